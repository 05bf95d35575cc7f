# handlers/hello.py, as the v1 README's "2. Create Handler Scripts" shows it.
async def handle_request(request, service):
    return {"message": "Hello from ProServe!", "service": service.manifest.name}
