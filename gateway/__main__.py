"""``python -m gateway``: the same as ``recado gateway``, for a service file that runs the package itself
(without the server's dependencies loaded: the gateway box is often small). Logs go to stderr at
``RECADO_LOG_LEVEL`` (default INFO)."""

import logging
import os

from gateway.cli_gateway import gateway_command

if __name__ == "__main__":
    logging.basicConfig(
        level=os.environ.get("RECADO_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    gateway_command(prog_name="python -m gateway")
