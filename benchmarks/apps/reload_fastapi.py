"""A one-file FastAPI app for the reload benchmark: pydantic models, a SQLAlchemy engine
and mapped class (SQLite in memory), two routes. The harness rewrites ``MARKER`` in a copy.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

MARKER = "edit-0"

engine = create_engine("sqlite://")


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class ItemOut(BaseModel):
    id: int
    name: str


Base.metadata.create_all(engine)
app = FastAPI()


@app.get("/", response_class=PlainTextResponse)
def index() -> str:
    return "reload-app " + MARKER


@app.get("/items")
def items() -> list[ItemOut]:
    with Session(engine) as session:
        return [ItemOut(id=i.id, name=i.name) for i in session.scalars(select(Item))]
