# handlers/background.py, as the v1 README shows it.
async def background_task(service):
    service.logger.info("Background task executed")
    return {"status": "completed"}
