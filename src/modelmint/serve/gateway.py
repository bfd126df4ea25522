"""The predict path as small named steps: authenticate -> admit -> run -> meter -> respond.

``Gateway.predict`` reads top to bottom; each step is a method that takes the ``Call`` (what
is known about the request so far) and returns a typed value, so a step can be tested without a
server, and a feature is a step added or overridden, not a branch inside a closure (the B2 peer
overrides ``authenticate`` and ``meter`` to switch the layers off).

1. ``authenticate``: the caller, from the process's key cache when fresh (the metering
   transaction re-checks the key, so revocation acts on the next call).
2. ``validate``: input count, each input's characters and length; the key's scopes.
3. ``replay``: a retry with a known Idempotency-Key gets the first answer, before any limit.
4. ``admit``: rate and concurrency limits (a lease released after the call), and, for a tenant
   this process saw at its quota, the quota before any model work.
5. ``run``: the serving version, inputs parsed by the model, then the micro-batcher (or the
   explain queue), within the request timeout.
6. ``meter``: the prediction-log rows and the usage row, group-committed; a key that changed
   since it was cached is read again and the call metered under its current plan.
7. ``respond``: the JSON answer, or the 429/409 the metering outcome calls for.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import re
import time
import unicodedata
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from modelmint import billing, experiments
from modelmint.billing import alerts
from modelmint.billing.limits import Lease, Limits
from modelmint.billing.metering import GroupCommit
from modelmint.data.redact import redact
from modelmint.errors import (
    Conflict,
    InvalidInput,
    ModelMintError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TimedOut,
)
from modelmint.modeling import REGRESSION
from modelmint.serve.batcher import BatchFailed
from modelmint.serve.explain import ExplainQueue
from modelmint.serve.metrics import Metrics
from modelmint.serve.pool import Answered, ModelPool, Serving
from modelmint.serve.schemas import PredictRequest
from modelmint.settings import Settings
from modelmint.store import Store, new_id
from modelmint.types import MeterItem, MeterOutcome, Prediction

logger = logging.getLogger("modelmint.serve")

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")
# C0 except \t \n \r, DEL, and C1 (U+0080-U+009F)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# What renders as nothing: whitespace, format characters (zero-width space/joiners, BOM, word
# joiner, bidi marks: category Cf) and the "filler" letters people paste as blanks
FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u180e")
KEY_CHANGED = (
    MeterOutcome.REVOKED,
    MeterOutcome.EXPIRED,
    MeterOutcome.SUSPENDED,
    MeterOutcome.STALE,
)
METER_TRIES = 3


def visible(text: str) -> bool:
    return any(
        not ch.isspace() and ch not in FILLERS and unicodedata.category(ch) != "Cf" for ch in text
    )


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def check_strings(item: Any, i: int, max_chars: int) -> None:
    """Every string in an input: non-empty and visible where it is the input, no control
    character or lone surrogate, within the character limit."""
    if isinstance(item, str):
        if not item.strip():
            raise InvalidInput(f"input {i} is empty; send non-empty texts")
        if not visible(item):
            raise InvalidInput(
                f"input {i} has no visible characters (only spaces, zero-width or filler "
                "characters); send the text itself"
            )
        strings = [item]
    elif isinstance(item, dict):
        if not item:
            raise InvalidInput(f"input {i} is an empty object; send the features")
        strings = [k for k in item] + [v for v in item.values() if isinstance(v, str)]
    else:
        if not item:
            raise InvalidInput(f"input {i} is an empty list; send the tokens")
        strings = list(item)
    total = 0
    for text in strings:
        bad = CONTROL.search(text)
        if bad:
            raise InvalidInput(
                f"input {i} contains the control character U+{ord(bad.group()):04X}; remove "
                "control characters (tabs and line breaks are fine)"
            )
        if not is_utf8(text):
            raise InvalidInput(f"input {i} contains an unpaired surrogate; send plain UTF-8 text")
        total += len(text)
    if total > max_chars:
        raise PayloadTooLarge(
            f"input {i} has {total} characters; the limit is {max_chars} - shorten it"
        )


def prediction_out(
    pid: str, p: Prediction, why: list[dict[str, Any]] | None, task: str, truncated: bool
) -> dict[str, Any]:
    """One prediction as `PredictionOut` (built as a dict: no second validation pass)."""
    out: dict[str, Any] = {"id": pid, "label": p.label}
    if task in REGRESSION:  # a number: no class scores (label keeps the value as text)
        out["value"] = p.value
    else:
        out["score"] = p.score
        out["scores"] = p.scores
    if task == "multi-label":
        out["labels"] = list(p.labels)
    elif task == "token-classification":
        out["entities"] = list(p.entities)
    if why is not None:
        out["explanation"] = why
    if truncated:
        out["truncated"] = True
    return out


def log_payload(model: Any, value: Any, drift: bytes | None, rate: float) -> dict[str, Any]:
    """What the prediction log keeps of an input: its redacted text and its drift payload, for
    a `rate` share of predictions (the rest keep an empty text and no payload)."""
    if rate < 1.0 and random.random() >= rate:
        return {"input_text": "", "drift": None}
    return {"input_text": redact(model.log_text(value))[0], "drift": drift}


def replay(stored: dict[str, Any], idem: tuple[str, str]) -> JSONResponse:
    """The first answer to a retried Idempotency-Key, or 409 for a different request."""
    if stored["request_hash"] != idem[1]:
        raise Conflict(
            f"Idempotency-Key '{idem[0]}' was already used for a different request; send a new "
            "key for a new request (a retry must repeat the same body to the same scenario)"
        )
    return JSONResponse(json.loads(stored["response"]), headers={"Idempotent-Replayed": "true"})


@dataclass
class Call:
    """What the gateway knows about one predict request, filled in step by step."""

    scenario: str
    body: PredictRequest
    request_id: str
    authorization: str | None
    started: float
    who: billing.Caller | None = None
    idempotency: tuple[str, str] | None = None
    """(Idempotency-Key, hash of scenario + body) when the header was sent."""
    period: str = ""
    shadow_rows: tuple[dict[str, Any], ...] = ()
    """A shadow challenger's log rows (build fills them; metered with the call, never billed)."""

    @property
    def n(self) -> int:
        return len(self.body.inputs)

    @property
    def unit_type(self) -> str:
        return "explain" if self.body.explain else "predict"

    @property
    def caller(self) -> billing.Caller:
        assert self.who is not None, "authenticate first"
        return self.who


@dataclass(frozen=True)
class Ran:
    """What the model answered for a call."""

    serving: Serving
    inputs: list[Any]
    predictions: list[Prediction]
    explanations: list[list[dict[str, Any]]] | None
    truncated: list[bool]
    drift: list[bytes | None]
    arm: str | None = None
    """production or challenger during an experiment (the log's arm), else None."""
    shadow: tuple[Serving, Answered] | None = None
    """A shadow challenger's answers to the same inputs: logged, never returned or billed."""
    compute_s: float = 0.0
    """The answering version's compute time for these inputs (the log keeps it per row)."""


class Gateway:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        pool: ModelPool,
        limits: Limits,
        meter: GroupCommit,
        explainer: ExplainQueue,
        metrics: Metrics,
        keys: billing.KeyCache,
    ) -> None:
        self.store = store
        self.settings = settings
        self.pool = pool
        self.limits = limits
        self.meter_writer = meter
        self.explainer = explainer
        self.metrics = metrics
        self.keys = keys
        self.exhausted: set[tuple[int, str]] = set()  # (tenant, period) seen at its quota here

    # --- the path ---------------------------------------------------------------------------
    async def predict(
        self, scenario: str, body: PredictRequest, who: billing.Caller, request: Request
    ) -> JSONResponse:
        """`who` comes from `authenticate`, which the route runs as its dependency (so a
        request without a valid key is 401 before its body is looked at)."""
        call = Call(
            scenario=scenario,
            body=body,
            request_id=request.state.request_id,
            authorization=request.headers.get("authorization"),
            started=time.perf_counter(),
            who=who,
        )
        self.validate(call)
        call.idempotency = await self.idempotency(request, scenario)
        if call.idempotency is not None:  # a retry gets the first answer, before any limit
            answered = await self.replay(call)
            if answered is not None:
                return answered
        lease = await self.admit(call)
        try:
            ran = await self.run(call)
            rows, response = self.build(call, ran)
            outcome = await self.meter(call, rows, response)
            return await self.respond(call, ran, outcome, response)
        finally:
            await self.release(lease)

    # --- the steps --------------------------------------------------------------------------
    async def authenticate(self, authorization: str | None) -> billing.Caller:
        """From the process's key cache when fresh, else the database (401/403 from there)."""
        return self.keys.cached(authorization) or await run_in_threadpool(
            self.keys.authenticate, authorization
        )

    def validate(self, call: Call) -> None:
        limit = self.settings.max_inputs_per_request
        if call.n > limit:
            raise PayloadTooLarge(
                f"{call.n} inputs in one request; the limit is {limit} - split them over "
                "several requests"
            )
        for i, item in enumerate(call.body.inputs):
            check_strings(item, i, self.settings.max_chars_per_input)
        call.caller.allow(call.scenario)

    async def idempotency(self, request: Request, scenario: str) -> tuple[str, str] | None:
        """(Idempotency-Key, hash of what was asked) when the header is sent."""
        key = request.headers.get("idempotency-key")
        if key is None:
            return None
        if not IDEMPOTENCY_KEY.fullmatch(key):
            raise InvalidInput(
                "Idempotency-Key must be 1 to 200 printable ASCII characters, e.g. a UUID"
            )
        digest = hashlib.sha256(scenario.encode() + b"\n" + await request.body()).hexdigest()
        return key, digest

    async def replay(self, call: Call) -> JSONResponse | None:
        assert call.idempotency is not None
        stored = await run_in_threadpool(
            self.store.billing.idempotent_response, call.caller.tenant_id, call.idempotency[0]
        )
        return None if stored is None else replay(stored, call.idempotency)

    async def admit(self, call: Call) -> Lease | None:
        """Rate and concurrency limits (memory and Redis on the event loop, the database in a
        thread), then the quota for a tenant already seen at it. Returns the lease to release."""
        if self.limits.is_async:
            lease = await self.limits.acquire_async(call.caller, call.request_id)
        else:
            lease = await run_in_threadpool(self.limits.acquire, call.caller, call.request_id)
        try:
            await self.check_exhausted(call)
        except BaseException:
            await self.release(lease)
            raise
        return lease

    async def release(self, lease: Lease | None) -> None:
        if lease is None:
            return
        if self.limits.is_async:
            await self.limits.release_async(lease)
        else:
            await run_in_threadpool(self.limits.release, lease)

    async def check_exhausted(self, call: Call) -> None:
        """The metering write is the exact quota check; this read only spares the model's work
        for a tenant this process has already seen at its quota."""
        call.period = billing.current_period()
        who = call.caller
        if not (who.live and who.unit_cap is not None):
            return
        if (who.tenant_id, call.period) not in self.exhausted:
            return
        used = await run_in_threadpool(self.store.billing.units_used, who.tenant_id, call.period)
        if used + call.n > who.unit_cap:  # the plan may have changed since the key was cached
            who = call.who = await self.reauthenticate(call)
            if who.unit_cap is not None and used + call.n > who.unit_cap:
                raise billing.quota_error(who, used, call.n)
        self.exhausted.discard((who.tenant_id, call.period))

    async def reauthenticate(self, call: Call) -> billing.Caller:
        """The key as it is now (raises the 401 or 403 of a revoked, expired or suspended one)."""
        self.keys.drop(call.authorization)
        return await run_in_threadpool(self.keys.authenticate, call.authorization)

    async def serving(self, call: Call) -> Serving:
        """The scenario's serving version; to a tenant, an unknown scenario and one with no
        production model are the same 404, listing only the scenarios the key may call."""
        current = self.pool.current(call.scenario)
        if current is not None:
            return current
        try:
            return await run_in_threadpool(self.pool.production, call.scenario)
        except NotFound:
            allowed = call.caller.scenarios
            usable = [s for s in self.pool.scenarios() if allowed is None or s in allowed]
            raise NotFound(
                f"unknown scenario '{call.scenario[:100]}'; this API key can call: "
                f"{', '.join(usable) or '(none yet)'}"
            ) from None

    def arm(self, call: Call, serving: Serving) -> tuple[Serving, str | None, Serving | None]:
        """(the version that answers, its arm, a shadow challenger or None) for the scenario's
        running experiment, if any. Assignment is a hash of the experiment and the subject
        (sticky, the same in every process); explanations always come from production."""
        exp = self.pool.experiment(call.scenario)
        if exp is None or exp["production_version"] != serving.version or call.body.explain:
            return serving, None, None
        try:
            challenger = self.pool.version(call.scenario, exp["challenger_version"])
        except ModelMintError:  # cannot load: production answers alone, as outside experiments
            return serving, None, None
        if exp["mode"] == "shadow":
            scored = experiments.unit(exp["id"], call.request_id) < exp["share"]
            return serving, "production", challenger if scored else None
        subject = call.body.subject or call.caller.key_id
        if experiments.challenger_answers(exp["id"], subject, exp["share"]):
            return challenger, "challenger", None
        return serving, "production", None

    async def shadow_run(
        self, shadow: Serving, inputs: list[Any], request_id: str
    ) -> Answered | None:
        """The shadow challenger's answers; a failure there never fails the call."""
        try:
            return await shadow.predict(inputs, request_id)
        except Exception as exc:
            logger.warning("shadow %s failed on %s: %s", shadow.ref, request_id, exc)
            return None

    async def run(self, call: Call) -> Ran:
        serving, arm, shadow = self.arm(call, await self.serving(call))
        model = serving.model
        inputs = [model.parse_input(item, i) for i, item in enumerate(call.body.inputs)]
        timeout = self.settings.request_timeout_seconds
        explanations = None
        truncated = [False] * call.n
        drift: list[bytes | None] = [None] * call.n
        shadowed = None
        compute_s = 0.0
        try:
            if call.body.explain:  # occlusion: a batch of variants per input, its own queue
                preds, explanations, compute_s = await self.explainer.run(model, inputs, timeout)
            else:
                if shadow is None:
                    answered = await asyncio.wait_for(
                        serving.predict(inputs, call.request_id), timeout
                    )
                else:  # both in flight at once: they share the micro-batches
                    answered, shadow_answered = await asyncio.wait_for(
                        asyncio.gather(
                            serving.predict(inputs, call.request_id),
                            self.shadow_run(shadow, inputs, call.request_id),
                        ),
                        timeout,
                    )
                    shadowed = (shadow, shadow_answered) if shadow_answered else None
                preds, truncated, drift, compute_s = (
                    answered.predictions,
                    answered.truncated,
                    answered.drift,
                    answered.compute_s,
                )
        except TimeoutError:
            raise TimedOut(
                f"the prediction took longer than {timeout:g} s and was abandoned (nothing was "
                "metered); retry, or send fewer inputs"
            ) from None
        except BatchFailed as exc:
            raise ModelMintError(
                f"the model failed on the batch this request was in ({exc.batch_id}); nothing "
                f"was metered. The server log explains it under request id {call.request_id}"
            ) from exc
        return Ran(serving, inputs, preds, explanations, truncated, drift, arm, shadowed, compute_s)

    def build(self, call: Call, ran: Ran) -> tuple[tuple[dict[str, Any], ...], dict[str, Any]]:
        """The prediction-log rows (redacted: never raw personal data) and the answer."""
        latency_ms = (time.perf_counter() - call.started) * 1000
        model = ran.serving.model
        rate = self.settings.log_sample_rate
        compute_ms = ran.compute_s * 1000 / max(len(ran.inputs), 1)
        rows = tuple(
            {
                "id": new_id(),
                "model_version": ran.serving.version,
                **log_payload(model, x, d, rate),
                "label": p.label[:200],
                "score": p.score,
                "latency_ms": latency_ms,
                "compute_ms": compute_ms,
                "arm": ran.arm,
                "paired_id": None,
            }
            for x, p, d in zip(ran.inputs, ran.predictions, ran.drift, strict=True)
        )
        call.shadow_rows = self.shadow_rows(ran, rows)
        response = {
            "predictions": [
                prediction_out(
                    r["id"],
                    p,
                    ran.explanations[k] if ran.explanations else None,
                    model.task,
                    ran.truncated[k],
                )
                for k, (r, p) in enumerate(zip(rows, ran.predictions, strict=True))
            ],
            "model": ran.serving.ref,
        }
        return rows, response

    def shadow_rows(self, ran: Ran, rows: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        """The shadow challenger's log rows, each paired with its production twin."""
        if ran.shadow is None:
            return ()
        shadow, answered = ran.shadow
        rate = self.settings.log_sample_rate
        compute_ms = answered.compute_s * 1000 / max(len(ran.inputs), 1)
        return tuple(
            {
                "id": new_id(),
                "model_version": shadow.version,
                **log_payload(shadow.model, x, d, rate),
                "label": p.label[:200],
                "score": p.score,
                "latency_ms": twin["latency_ms"],
                "compute_ms": compute_ms,  # the experiment's cost: scored, never billed
                "arm": "shadow",
                "paired_id": twin["id"],
            }
            for x, p, d, twin in zip(
                ran.inputs, answered.predictions, answered.drift, rows, strict=True
            )
        )

    def meter_item(
        self, call: Call, rows: tuple[dict[str, Any], ...], response: dict[str, Any]
    ) -> MeterItem:
        who = call.caller
        idem = call.idempotency
        return MeterItem(
            request_id=call.request_id,
            tenant_id=who.tenant_id,
            key_id=who.key_id,
            plan_id=who.plan_id,
            scenario=call.scenario,
            period=call.period,
            quota=who.unit_cap,
            prediction_rows=rows,
            shadow_rows=call.shadow_rows,
            unit_type=call.unit_type,
            live=who.live,
            idempotency=(*idem, json.dumps(response)) if idem else None,
            alert_levels=tuple(alerts.levels(who)) if who.live else (),
        )

    async def meter(
        self, call: Call, rows: tuple[dict[str, Any], ...], response: dict[str, Any]
    ) -> MeterOutcome:
        """Group commit: answered only once this call's usage is committed. A key that changed
        since it was cached is read again and the call metered under its current plan."""
        item = self.meter_item(call, rows, response)
        for _ in range(METER_TRIES):
            outcome = await asyncio.wrap_future(self.meter_writer.submit(item))
            if outcome not in KEY_CHANGED:
                return outcome
            call.who = await self.reauthenticate(call)
            item = replace(item, **_caller_fields(call.caller))
        raise ServiceUnavailable("the API key's plan kept changing; retry the request")

    async def respond(
        self, call: Call, ran: Ran, outcome: MeterOutcome, response: dict[str, Any]
    ) -> JSONResponse:
        who = call.caller
        if outcome == MeterOutcome.CONFLICT:  # the same key won a race: its answer stands
            answered = await self.replay(call)
            assert answered is not None
            return answered
        if outcome == MeterOutcome.OVER_QUOTA:
            self.exhausted.add((who.tenant_id, call.period))
            used = await run_in_threadpool(
                self.store.billing.units_used, who.tenant_id, call.period
            )
            raise billing.quota_error(who, used, call.n)
        self.metrics.predictions.labels(
            call.scenario, str(ran.serving.version), call.unit_type
        ).inc(call.n)
        logger.info(
            "predict",
            extra={
                "request_id": call.request_id,
                "tenant": who.tenant,
                "model": ran.serving.ref,
                "units": call.n,
                "latency_ms": round((time.perf_counter() - call.started) * 1000, 2),
            },
        )
        return JSONResponse(response)


def _caller_fields(who: billing.Caller) -> dict[str, Any]:
    """The parts of a MeterItem that come from the caller (after a re-authentication)."""
    return {
        "key_id": who.key_id,
        "plan_id": who.plan_id,
        "quota": who.unit_cap,
        "live": who.live,
        "alert_levels": tuple(alerts.levels(who)) if who.live else (),
    }
