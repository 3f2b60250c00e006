"""L3, the asyncio side: the only code that touches a transport."""
