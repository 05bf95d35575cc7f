# The v2 README's advanced manifest names `handler: chat_handler` and shows
# no code for it; a chat room: every message goes to everyone on /ws/chat.
async def handle_websocket(ws, data, service):
    await ws.broadcast({"message": data})
