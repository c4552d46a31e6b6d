"""n8n's training nodes: fixed sample data that n8n's tutorials and its own test workflows are built on."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

from tenantflow.engine.sdk import Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import BOOLEAN, NUMBER, object_schema, one_of

PEOPLE: tuple[dict[str, Any], ...] = (
    {
        "id": "23423532",
        "name": "Jay Gatsby",
        "email": "gatsby@west-egg.com",
        "notes": "Keeps asking about a green light??",
        "country": "US",
        "created": "1925-04-10",
    },
    {
        "id": "23423533",
        "name": "José Arcadio Buendía",
        "email": "jab@macondo.co",
        "notes": "Lots of people named after him. Very confusing",
        "country": "CO",
        "created": "1967-05-05",
    },
    {
        "id": "23423534",
        "name": "Max Sendak",
        "email": "info@in-and-out-of-weeks.org",
        "notes": "Keeps rolling his terrible eyes",
        "country": "US",
        "created": "1963-04-09",
    },
    {
        "id": "23423535",
        "name": "Zaphod Beeblebrox",
        "email": "captain@heartofgold.com",
        "notes": "Felt like I was talking to more than one person",
        "country": None,
        "created": "1979-10-12",
    },
    {
        "id": "23423536",
        "name": "Edmund Pevensie",
        "email": "edmund@narnia.gov",
        "notes": "Passionate sailor",
        "country": "UK",
        "created": "1950-10-16",
    },
)


class CustomerDatastore(NodeType):
    """``Customer Datastore (n8n training)``: five fixed people, one or all of them, once per input item."""

    cpu_only = True

    type = "n8n-nodes-base.n8nTrainingCustomerDatastore"
    display_name = "Customer Datastore (n8n training)"
    description = "Emits n8n's fixed training dataset of five customers."
    aliases = ("n8nTrainingCustomerDatastore",)
    parameters_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {"operation": one_of("getOnePerson", "getAllPeople"), "returnAll": BOOLEAN, "limit": NUMBER}
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        out: Items = []
        for index, _ in enumerate(inputs[0] if inputs and inputs[0] else [{"json": {}}]):
            operation = ctx.param("operation", index, "getOnePerson")
            if operation == "getOnePerson":
                people = PEOPLE[:1]
            elif ctx.param("returnAll", index, False):
                people = PEOPLE
            else:
                people = PEOPLE[: int(ctx.param("limit", index, 5))]
            out.extend({"json": copy.deepcopy(person), "pairedItem": {"item": index}} for person in people)
        return [out]


NODE_TYPES: list[type[NodeType]] = [CustomerDatastore]
