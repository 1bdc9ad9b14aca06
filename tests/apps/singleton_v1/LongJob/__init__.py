import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    job = context.get_input()
    yield context.wait_for_external_event("finish")
    result = yield context.call_activity("RecordRun", job)
    return result


main = df.Orchestrator.create(orchestrator_function)
