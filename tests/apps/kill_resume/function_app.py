"""For the SIGKILL test: each step is logged to STEP_LOG when its activity runs."""

import os
import time
from datetime import timedelta

import azure.durable_functions as df

application = df.DFApp()


@application.orchestration_trigger(context_name="context")
def steps(context: df.DurableOrchestrationContext):
    job = context.get_input()
    done = []
    for i in range(job["steps"]):
        done.append((yield context.call_activity("record_step", {"run": job["run"], "i": i})))
        if i == job["timer_after"]:
            yield context.create_timer(
                context.current_utc_datetime + timedelta(seconds=job["timer_s"])
            )
    return done


@application.activity_trigger(input_name="step")
def record_step(step):
    with open(os.environ["STEP_LOG"], "a") as log:
        log.write(f"{step['run']} {step['i']}\n")
    time.sleep(float(os.environ.get("STEP_SECONDS", "0.2")))
    return step["i"]
