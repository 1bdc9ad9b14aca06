"""The Functions app: wiring only. The starter lives in starters/, the jobs in orchestrators/."""

import azure.durable_functions as df
import azure.functions as func

from orchestrators import EVENT_MAPPINGS, blueprints, registry
from starters import build_blueprint

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for jobs in blueprints:
    app.register_functions(jobs)
app.register_functions(build_blueprint(registry, events=EVENT_MAPPINGS))
