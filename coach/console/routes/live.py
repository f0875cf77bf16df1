"""The live view: the state now and the session so far (the daemon's), then every sample and event,
over a WebSocket."""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType, web

from coach.console.context import TOKEN, Console, json_error, same_origin
from coach.console.policy import Access, Route, write_audit
from coach.console.routes.box import current_patient


async def live(request: web.Request, console: Console) -> web.StreamResponse:
    if not same_origin(request):   # a cross-site WebSocket would carry the cookie otherwise
        return json_error(403, "Dit verzoek komt niet van de console.", code="csrf")
    socket = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096)
    await socket.prepare(request)
    write_audit(request, "opened", patient=current_patient(console))   # now, not when it closes
    queue = await console.link.watch()

    async def drain_incoming():
        async for message in socket:   # nothing is expected; this notices a closed tab
            if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break

    incoming = asyncio.get_running_loop().create_task(drain_incoming())
    try:
        while not socket.closed:
            getting = asyncio.get_running_loop().create_task(queue.get())
            done, _ = await asyncio.wait({getting, incoming}, return_when=asyncio.FIRST_COMPLETED)
            if getting not in done:
                getting.cancel()
                break
            text = getting.result()
            if text is None:
                break   # too slow: the page reconnects and starts from a fresh snapshot
            if not console.sessions.alive(request[TOKEN]):   # watching is no activity: idle logout holds
                await socket.close(code=4401, message=b"login ended")
                break
            try:
                await socket.send_str(text)
            except ConnectionError:   # the browser went away mid-send: an ordinary end, not an error
                break
    finally:
        console.link.unwatch(queue)
        incoming.cancel()
        await socket.close()
    return socket


# A GET, so CSRF's token is not asked: the handler checks the Origin itself (a browser sends one
# with every WebSocket).
ROUTES = [Route("GET", "/api/live", live, Access.LOGGED_IN, "live_view", lasting=True)]
