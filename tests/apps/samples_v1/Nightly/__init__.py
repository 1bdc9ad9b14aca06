import logging

import azure.functions as func


def main(mytimer: func.TimerRequest) -> None:
    logging.info("nightly run; past due: %s", mytimer.past_due)
