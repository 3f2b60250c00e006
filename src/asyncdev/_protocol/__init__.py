"""L2, sans-IO: bytes in, events and decisions out, around h11 and wsproto. No asyncio."""
