"""The HTTP API's request and response bodies (pydantic): what the OpenAPI document shows."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Scalar = str | int | float | bool | None


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list[str | dict[str, Scalar] | list[str]] = Field(
        min_length=1,
        description="One item per prediction, each one billable unit: a text (text tasks, "
        "entities), an object of features (tabular), a list of tokens (entities), or a "
        "base64-encoded image (images).",
    )
    explain: bool = Field(
        default=False,
        description="Also return the input tokens or features behind each prediction "
        "(metered as `explain` units instead of `predict`).",
    )
    subject: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Your end user's or session's id (opaque, 1 to 200 characters): during a "
        "split or bandit experiment the same subject always gets the same version. Without it "
        "the API key is the subject. Not stored.",
    )


class Contribution(BaseModel):
    feature: str
    weight: float = Field(description="> 0 supports the prediction, < 0 argues against it.")
    value: Scalar = None
    tag: str | None = None


class Entity(BaseModel):
    type: str
    text: str
    start: int = Field(description="First token (0-based).")
    end: int = Field(description="One past the last token.")


class PredictionOut(BaseModel):
    id: str = Field(description="Prediction id: send it back with feedback and outcomes.")
    label: str = Field(
        description="The predicted class. Regression: the value as text, 3 decimals (read `value`)."
    )
    score: float | None = Field(
        default=None, description="Confidence of `label`, 0-1. Absent for regression."
    )
    scores: dict[str, float] | None = Field(
        default=None, description="Confidence per class. Absent for regression."
    )
    value: float | None = Field(default=None, description="Regression: the predicted number.")
    labels: list[str] | None = Field(default=None, description="Multi-label: labels switched on.")
    entities: list[Entity] | None = Field(default=None, description="Entities found.")
    explanation: list[Contribution] | None = None
    truncated: bool | None = Field(
        default=None,
        description="Present and true when the input was longer than the model's max_tokens "
        "and only its beginning was used.",
    )


class PredictResponse(BaseModel):
    predictions: list[PredictionOut]
    model: str = Field(description="name:version that answered.")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prediction_id: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1, max_length=200, description="The correct label.")


class OutcomeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prediction_id: str = Field(min_length=1, max_length=64)
    event: str = Field(min_length=1, max_length=100, description="e.g. converted, refunded")
    value: float | None = Field(default=None, description="Optional business value, e.g. 49.90")


class Accepted(BaseModel):
    ok: bool = True
    id: str


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, description="The version to serve.")
    reason: str = Field(default="", max_length=500, description="Kept in the audit log.")


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=500, description="Kept in the audit log.")


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario: str = Field(min_length=1, max_length=100)
    min_improvement: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="How much better (0-1, in the primary metric) the candidate must be.",
    )
