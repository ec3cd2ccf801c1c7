"""The operators' HTTP API (static/operator.html uses it). Every route is for
operators of the brand it names; anyone else gets 403."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, StringConstraints

from ..access import access_operator
from ..auth import User
from ..errors import InvalidPayload
from .apidoc import OPERATOR, documented
from .http import brand_param, current_user, read_json
from .keys import ANALYTICS, CHAT, EDITOR, EVALUATIONS, INBOX, KNOWLEDGE, SETTINGS
from .payloads import Payload, parse_payload

routes = web.RouteTableDef()
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
BaseVersion = Annotated[
    int | None,
    Field(
        ge=0,
        le=2**53,
        description="The version the edit was made on (the `version` its GET returned; 0: none stored yet). "
        "When another save has stored a later one since, the edit is refused: 409 `stale_version`, naming "
        "the newer version and its author. Left out: saved whatever came before, as before.",
    ),
]


class Based(Payload):
    base_version: BaseVersion = None


class IntentChanges(Based):
    examples: Annotated[list[Annotated[str, StringConstraints(max_length=500)]], Field(max_length=2000)] | None = None
    answer: Annotated[str, StringConstraints(max_length=4000)] | None = None
    quick_replies: Annotated[list[Annotated[str, StringConstraints(max_length=100)]], Field(max_length=8)] | None = None
    policy_section: Annotated[str, StringConstraints(max_length=20)] | None = None
    action: Annotated[str, StringConstraints(max_length=64)] | None = None
    offer_handoff: bool | None = None
    note: Annotated[str, StringConstraints(max_length=200)] = ""


class NewIntent(IntentChanges):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class Rollback(Based):
    version: Annotated[int, Field(ge=1, le=2**53)]


class TryIt(Payload):
    brand: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    text: Text


class ResolveMiss(Payload):
    brand: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    text: Text
    keys: Annotated[list[Annotated[str, StringConstraints(max_length=4000)]], Field(max_length=500)] = []
    action: Annotated[str, StringConstraints(pattern=r"^(example|dismiss)$")]
    intent: Annotated[str, StringConstraints(max_length=64)] | None = None
    base_version: BaseVersion = None  # of the intent the example goes to


class RunEval(Payload):
    brand: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    set: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class PolicyText(Based):
    text: Annotated[str, StringConstraints(min_length=1, max_length=60_000)]


async def operator_of(request: web.Request, brand: str) -> User:
    return access_operator(await current_user(request), brand)


async def _brand_operator(request: web.Request) -> tuple[str, User]:
    """The ?brand= and the logged-in user, who must be an operator of it."""
    brand = brand_param(request)
    return brand, await operator_of(request, brand)


@routes.get("/api/operator/intents")
@documented("Intents with example counts and accuracy", OPERATOR, brand_query=True)
async def list_intents(request: web.Request) -> web.Response:
    brand_id, _ = await _brand_operator(request)
    brand = request.app[KNOWLEDGE].brand(brand_id)
    accuracy = await request.app[EVALUATIONS].live_accuracy(brand_id)
    intents = [
        {
            "name": i.name,
            "examples": len(i.examples),
            "policy_section": i.policy_section,
            "action": i.action,
            "accuracy": accuracy.get(i.name),
        }
        for i in sorted(brand.intents.values(), key=lambda i: i.name)
    ]
    retired = sorted(p.stem for p in (brand.folder / "retired").glob("*.yaml"))
    return web.json_response(
        {
            "intents": intents,
            "out_of_scope_examples": len(brand.out_of_scope),
            "retired": retired,
            "sections": brand.settings.policy.sections,
        }
    )


@routes.post("/api/operator/intents")
@documented("Create an intent", OPERATOR, NewIntent, brand_query=True)
async def create_intent(request: web.Request) -> web.Response:
    brand_id, user = await _brand_operator(request)
    body = parse_payload(NewIntent, await read_json(request))
    changes = body.model_dump(exclude={"name", "note", "base_version"})
    result = await request.app[EDITOR].save(
        user, brand_id, body.name, changes, create=True, note=body.note, base_version=body.base_version
    )
    return web.json_response(result.to_dict(), status=201)


@routes.get("/api/operator/intents/{name}")
@documented("One intent with its versions and the latest's number (`version`, 0: none)", OPERATOR, brand_query=True)
async def get_intent(request: web.Request) -> web.Response:
    brand_id, _ = await _brand_operator(request)
    return web.json_response(await request.app[EDITOR].current(brand_id, request.match_info["name"]))


@routes.put("/api/operator/intents/{name}")
@documented("Edit an intent (checked, versioned, reloaded)", OPERATOR, IntentChanges, brand_query=True)
async def update_intent(request: web.Request) -> web.Response:
    brand_id, user = await _brand_operator(request)
    body = parse_payload(IntentChanges, await read_json(request))
    changes = body.model_dump(exclude={"note", "base_version"})
    result = await request.app[EDITOR].save(
        user, brand_id, request.match_info["name"], changes, note=body.note, base_version=body.base_version
    )
    return web.json_response(result.to_dict())


@routes.post("/api/operator/intents/{name}/check")
@documented(
    "What an edit would do, with nothing saved: the check, accuracy before and after, the labelled messages it moves",
    OPERATOR,
    IntentChanges,
    brand_query=True,
)
async def check_intent(request: web.Request) -> web.Response:
    """The edit's check, accuracy change and moved messages, with nothing saved."""
    brand_id, _ = await _brand_operator(request)
    body = parse_payload(IntentChanges, await read_json(request))
    return web.json_response(
        await request.app[EDITOR].check(
            brand_id, request.match_info["name"], body.model_dump(exclude={"note", "base_version"})
        )
    )


@routes.delete("/api/operator/intents/{name}")
@documented("Retire an intent (`?base_version=N`: only if N is still the latest)", OPERATOR, brand_query=True)
async def retire_intent(request: web.Request) -> web.Response:
    brand_id, user = await _brand_operator(request)
    base = _int_query(request, "base_version", 0, 0, 2**53) if "base_version" in request.query else None
    result = await request.app[EDITOR].retire(user, brand_id, request.match_info["name"], base)
    return web.json_response(result.to_dict())


@routes.get("/api/operator/intents/{name}/versions")
@documented("Versions of an intent", OPERATOR, brand_query=True)
async def intent_versions(request: web.Request) -> web.Response:
    brand_id, _ = await _brand_operator(request)
    return web.json_response({"versions": await request.app[EDITOR].versions(brand_id, request.match_info["name"])})


@routes.post("/api/operator/intents/{name}/rollback")
@documented("Restore a version", OPERATOR, Rollback, brand_query=True)
async def rollback_intent(request: web.Request) -> web.Response:
    brand_id, user = await _brand_operator(request)
    body = parse_payload(Rollback, await read_json(request))
    result = await request.app[EDITOR].rollback(
        user, brand_id, request.match_info["name"], body.version, body.base_version
    )
    return web.json_response(result.to_dict())


@routes.post("/api/operator/reload")
@documented("Reload the intent files now", OPERATOR, brand_query=True)
async def reload_intents(request: web.Request) -> web.Response:
    await _brand_operator(request)
    await request.app[KNOWLEDGE].reload()
    return web.json_response({"ok": True})


@routes.post("/api/operator/try")
@documented("Parse and preview the answer", OPERATOR, TryIt)
async def try_it(request: web.Request) -> web.Response:
    body = parse_payload(TryIt, await read_json(request))
    await operator_of(request, body.brand)
    knowledge = request.app[KNOWLEDGE]
    parse = knowledge.parse(body.brand, body.text)
    reply = request.app[CHAT].dialogue.preview(knowledge.brand(body.brand), parse)
    return web.json_response(
        {
            **parse.to_rasa(),
            "answer": {
                "text": reply.text,
                "intent": reply.intent,
                "citation": reply.citation,
                "quick_replies": reply.quick_replies,
                "hands_off": reply.wants_human,
            },
        }
    )


@routes.get("/api/operator/misses")
@documented("Inbox of misses, grouped", OPERATOR, brand_query=True)
async def misses(request: web.Request) -> web.Response:
    brand_id, _ = await _brand_operator(request)
    days = _int_query(request, "days", 30, 1, 365)
    return web.json_response({"groups": await request.app[INBOX].misses(brand_id, days)})


@routes.post("/api/operator/misses/resolve")
@documented("Add a missed message as an example, or dismiss it", OPERATOR, ResolveMiss)
async def resolve_miss(request: web.Request) -> web.Response:
    body = parse_payload(ResolveMiss, await read_json(request))
    user = await operator_of(request, body.brand)
    result: dict[str, Any] = {"ok": True}
    if body.action == "example":
        if not body.intent:
            raise InvalidPayload("name the intent (or out_of_scope) the message belongs to")
        added = await request.app[EDITOR].add_example(user, body.brand, body.intent, body.text, body.base_version)
        result.update(added.to_dict())
    await request.app[INBOX].mark(body.brand, [body.text, *body.keys], body.action, body.intent, user.id)
    return web.json_response(result)


@routes.get("/api/operator/eval")
@documented("Labelled sets and past runs", OPERATOR, brand_query=True)
async def eval_sets(request: web.Request) -> web.Response:
    brand_id, _ = await _brand_operator(request)
    evaluations = request.app[EVALUATIONS]
    return web.json_response({"sets": evaluations.sets(), "runs": await evaluations.history(brand_id)})


@routes.post("/api/operator/eval")
@documented("Evaluate a labelled set", OPERATOR, RunEval)
async def run_eval(request: web.Request) -> web.Response:
    body = parse_payload(RunEval, await read_json(request))
    user = await operator_of(request, body.brand)
    return web.json_response(await request.app[EVALUATIONS].run(user, body.brand, body.set))


@routes.get("/api/operator/analytics")
@documented("Figures per day", OPERATOR, brand_query=True)
async def analytics(request: web.Request) -> web.Response:
    brand_id, _ = await _brand_operator(request)
    return web.json_response(await request.app[ANALYTICS].daily(brand_id, _int_query(request, "days", 14, 1, 90)))


@routes.get("/api/operator/policy")
@documented("The policy document, with its version (0: never saved)", OPERATOR, brand_query=True)
async def get_policy(request: web.Request) -> web.Response:
    brand_id, _ = await _brand_operator(request)
    return web.json_response(await request.app[EDITOR].policy(brand_id))


@routes.get("/api/operator/policy/versions")
@documented("The policy's earlier texts, newest first", OPERATOR, brand_query=True)
async def policy_versions(request: web.Request) -> web.Response:
    brand_id, _ = await _brand_operator(request)
    return web.json_response({"versions": await request.app[EDITOR].policy_versions(brand_id)})


@routes.put("/api/operator/policy")
@documented("Replace the policy; lists intents to review", OPERATOR, PolicyText, brand_query=True)
async def put_policy(request: web.Request) -> web.Response:
    brand_id, user = await _brand_operator(request)
    body = parse_payload(PolicyText, await read_json(request))
    return web.json_response(await request.app[EDITOR].save_policy(user, brand_id, body.text, body.base_version))


async def across_processes(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: with --redis, the operators' edits reach every
    process of the cluster (cluster_intents.py); one process alone, nothing."""
    redis_url = app[SETTINGS].redis_url
    if not redis_url:
        yield
        return
    from .cluster_intents import ClusterIntents  # redis: the optional cluster extra

    async with ClusterIntents(app[EDITOR], redis_url):
        yield


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    try:
        return min(high, max(low, int(request.query.get(name, default))))
    except ValueError:
        raise InvalidPayload(f"{name} must be a whole number") from None
