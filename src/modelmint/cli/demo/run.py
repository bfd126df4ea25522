"""`run_demo`: the whole loop, top to bottom. Each step returns a value; ``show`` prints it."""

from __future__ import annotations

import random
import time
from pathlib import Path

from modelmint.cli._common import progress_ui
from modelmint.cli.demo import show
from modelmint.cli.demo.api import api_server
from modelmint.cli.demo.business import business_view
from modelmint.cli.demo.loop import challenge, watch_drift
from modelmint.cli.demo.result import DemoResult
from modelmint.cli.demo.steps import (
    evaluate_first,
    load_reviews,
    load_test,
    open_home,
    open_shop,
    promote_first,
    retrain_on_feedback,
    simulate_traffic,
    summarize,
    train_first,
    version_sample,
)


def run_demo(
    home: Path,
    *,
    sample: int = 6000,
    traffic: int = 400,
    feedback_share: float = 0.6,
    seed: int = 0,
) -> DemoResult:
    """data -> audit/version -> train -> evaluate -> promote -> serve, simulated traffic,
    feedback and outcomes -> retrain -> monitoring catches a simulated shift -> the retrained
    version challenges production (shadow, then split on simulated conversions) -> the gate ->
    summary, in a fresh demo home."""
    started = time.perf_counter()
    rng = random.Random(seed)
    ws = open_home(home)
    show.title(home)
    try:
        show.heading(1, "Data")
        reviews = load_reviews(home, sample=sample, rng=rng, seed=seed)
        show.reviews(reviews, home)
        with progress_ui() as progress:
            dataset = version_sample(ws, reviews, progress=progress)
        show.dataset(dataset, home)

        show.heading(2, "Train", show.TRAIN_INTRO)
        with progress_ui() as progress:
            trained = train_first(ws, progress=progress)
        show.trained(trained)

        show.heading(3, "Evaluate")
        with progress_ui() as progress:
            evaluated = evaluate_first(ws, trained, progress=progress)
        show.evaluated(evaluated)
        promoted = promote_first(ws, trained)
        show.promoted(promoted)

        show.heading(4, "Serve")
        shop = open_shop(ws)
        show.shop(shop)
        with api_server(home) as api:
            show.serving(api)

            show.heading(5, "Traffic (simulated)", show.traffic_intro(traffic, feedback_share))
            with progress_ui() as progress:
                calls = simulate_traffic(
                    api,
                    shop,
                    reviews,
                    calls=traffic,
                    feedback_share=feedback_share,
                    rng=rng,
                    progress=progress,
                )
            show.traffic(calls)

            show.heading(6, "Retrain", show.RETRAIN_INTRO)
            with progress_ui() as progress:
                retrained = retrain_on_feedback(ws, api, shop, progress=progress)
            show.retrained(retrained)

            show.heading(7, "Monitor (simulated shift)", show.WATCH_INTRO)
            with progress_ui() as progress:
                watched = watch_drift(ws, api, shop, reviews, rng=rng, progress=progress)
            show.watched(watched)

            show.heading(8, "Challenge production (simulated outcomes)", show.CHALLENGE_INTRO)
            with progress_ui() as progress:
                challenged = challenge(ws, api, shop, reviews, rng=rng, progress=progress)
            show.challenged(challenged)
            load = load_test(ws, api, calls.texts)
            show.load(load)

            summary = summarize(ws, api, shop)
            with progress_ui() as progress:
                business = business_view(ws, api, reviews, rng=rng, progress=progress)
        result = DemoResult(
            home=home,
            reviews=reviews,
            dataset=dataset,
            trained=trained,
            evaluated=evaluated,
            promoted=promoted,
            shop=shop,
            traffic=calls,
            retrained=retrained,
            watched=watched,
            challenged=challenged,
            load=load,
            summary=summary,
            business=business,
            seconds=time.perf_counter() - started,
        )
        show.heading(9, "Summary")
        show.summary(result)
        show.heading(10, "The business view", show.BUSINESS_INTRO)
        show.business(business)
        return result
    finally:
        ws.close()
