import azure.functions as func

first = func.FunctionApp()
second = func.FunctionApp()
