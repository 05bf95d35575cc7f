# handlers/websocket.py, as the v1 README shows it (which forgets to import
# time: added here).
import time


async def handle_websocket(ws, data, service):
    if data.get('action') == 'ping':
        return {'action': 'pong', 'timestamp': time.time()}
