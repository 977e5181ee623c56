"""``withdraw``: take back a stop or pause request that its process has not acted on.

A stop that no checkpoint reaches stays pending until the process ends (and is then
recorded as never reached); withdrawing it lets the process run on as if it had
never been asked. A stop a checkpoint already raised for, or a pause the process is
waiting in, cannot be withdrawn (resume the pause instead): exit code 1.
"""

from __future__ import annotations

import time

from .app import app, session
from .options import connection, json_option, name_argument
from .plain import ago, print_json


@app.command("withdraw")
@name_argument
@json_option
@connection
def withdraw(name: str, json_: bool, url: str | None, namespace: str) -> None:
    """Withdraw a pending stop or pause that the process has not acted on yet."""
    with session(url, namespace) as client:
        done = client.withdraw_request(name)
    if json_:
        print_json(
            {
                "process": name,
                "withdrawn": done.action,
                "requested_by": done.by,
                "requested_at": done.requested_at,
                "request_seq": done.seq,
            }
        )
        return
    asked = f", asked {ago(time.time() - done.requested_at)}" if done.requested_at else ""
    print(f"withdrew the {done.action} request for process {name!r} (from {done.by}{asked})")
