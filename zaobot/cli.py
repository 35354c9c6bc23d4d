"""`zaobot` command line: swap, demo and scene management."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from tqdm import tqdm

from zaobot import wording
from zaobot.config import BUNDLED_ASSETS_DIR, Settings, get_settings
from zaobot.errors import SceneError, UserFacingError

if TYPE_CHECKING:
    from zaobot.pipeline import RenderOutcome

app = typer.Typer(add_completion=False, no_args_is_help=True, help="zaobot: consent-first face swap.")
scenes_app = typer.Typer(no_args_is_help=True, help="Manage scenes (clips the face is swapped into).")
app.add_typer(scenes_app, name="scenes")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs request URLs, which carry the Telegram bot token, at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # PTB logs every outgoing message at DEBUG, and a /console reply carries a sign-in token.
    logging.getLogger("telegram").setLevel(logging.INFO)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _render(settings: Settings, selfie: Path, scene_keyword: str, output: Path, lang: str) -> None:
    from zaobot.media.scenes import SceneLibrary
    from zaobot.models import create_engine
    from zaobot.pipeline import RenderOptions, render_selfie
    from zaobot.storage.jobs import new_watermark_id
    from zaobot.storage.keys import resolve_secret

    if not selfie.is_file():
        raise _fail(f"no such file: {selfie}")
    from zaobot.models.onnx_session import ModelError

    try:
        scene = SceneLibrary(settings.scene_dirs).find(scene_keyword)
        engine = create_engine(settings)
    except UserFacingError as err:
        raise _fail(err.message(wording.known_lang(lang))) from None
    except ModelError as err:
        raise _fail(f"cannot use the inswapper engine: {err}") from None
    configured = settings.secret_key.get_secret_value() if settings.secret_key else None
    secret = resolve_secret(configured, settings.data_dir, require=False)  # keys the invisible watermark
    bar = tqdm(total=scene.frames, unit="frame", desc=f"rendering {scene.keyword}", disable=None, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    try:
        options = RenderOptions.from_settings(settings, secret)
        result = render_selfie(selfie.read_bytes(), scene, engine, output, options, watermark_id=new_watermark_id(),
                               progress=progress)
    except UserFacingError as err:
        raise _fail(err.message(wording.known_lang(lang))) from None
    finally:
        bar.close()
        engine.close()
    _audit_cli_render(settings, result)
    typer.echo(f"wrote {result.path} ({result.frames} frames, job {result.job_id}, watermark {result.watermark_id}, "
               f"labelled AI-generated{', C2PA-signed' if result.signed else ''})")


def _audit_cli_render(settings: Settings, result: RenderOutcome) -> None:
    """Operator renders are traceable too: an audit row with the job, watermark and scene (no user)."""
    from zaobot.storage import audit, open_store

    store = open_store(settings)
    try:
        audit(store, "render:cli", job_id=result.job_id, watermark_id=result.watermark_id, scene=result.scene)
    finally:
        store.close()


@app.command()
def swap(
    selfie: Path = typer.Argument(..., help="A selfie (JPEG/PNG) with exactly one face."),
    scene: str = typer.Option("demo", "--scene", "-s", help="Scene keyword."),
    output: Path = typer.Option(Path("out.mp4"), "--output", "-o", help="Where to write the MP4."),
    lang: str = typer.Option("en", help="Language of messages: en or zh."),
    engine: str | None = typer.Option(None, "--engine", help="mesh, inswapper or auto (default: ZAOBOT_ENGINE)."),
) -> None:
    """Swap the face in SELFIE into a scene and write a labelled MP4."""
    setup_logging()
    if engine not in (None, "mesh", "inswapper", "auto"):
        raise _fail("--engine must be mesh, inswapper or auto")
    _render(get_settings(**({"engine": engine} if engine else {})), selfie, scene, output, lang)


@app.command()
def demo(output: Path = typer.Option(Path("out/demo.mp4"), "--output", "-o")) -> None:
    """Render the bundled demo selfie into the bundled `demo` scene."""
    setup_logging()
    _render(get_settings(engine="mesh"), BUNDLED_ASSETS_DIR / "demo_selfie.jpg", "demo", output, "en")


@scenes_app.command("add")
def scenes_add(
    clip: Path = typer.Argument(..., help="The scene clip (MP4/MOV; at most 20 s)."),
    keyword: list[str] = typer.Option(..., "--keyword", "-k", help="Keyword(s) users type; repeat for aliases."),
    title: str = typer.Option("", help="Title shown to users."),
    license: str = typer.Option("", "--license", help="Licence of the clip."),
    attribution: str = typer.Option("", help="Attribution / source."),
    face: str = typer.Option("largest", help="Which face to replace: largest, left or right (first frame)."),
    detector: str = typer.Option("auto", help="auto (SCRFD when the operator has det_10g.onnx), scrfd or mediapipe."),
) -> None:
    """Add a scene and analyse it once (face track and landmarks, smoothed)."""
    from zaobot.media.scenes import add_scene
    from zaobot.media.video import probe
    from zaobot.models.scrfd import load_detector

    setup_logging()
    settings = get_settings()
    if face not in ("largest", "left", "right"):
        raise _fail("--face must be largest, left or right")
    if detector not in ("auto", "scrfd", "mediapipe"):
        raise _fail("--detector must be auto, scrfd or mediapipe")
    scrfd = None if detector == "mediapipe" else load_detector(settings.models_dir, settings.data_dir / "model-cache")
    if detector == "scrfd" and scrfd is None:
        raise _fail(f"SCRFD (buffalo_l/det_10g.onnx) not found or unusable in {settings.models_dir}")
    try:
        total = probe(clip).frames if clip.is_file() else None
        with tqdm(total=total, unit="frame", desc="analysing", disable=None, file=sys.stderr) as bar:
            scene = add_scene(clip, settings.writable_scenes_dir, keywords=keyword, title=title, license=license,
                              attribution=attribution, face=face, progress=bar.update,  # type: ignore[arg-type]  # face: checked against FacePick above
                              detector=scrfd)
    except SceneError as err:
        raise _fail(f"cannot add scene: {err}") from None
    coverage = float(scene.analysis.present.mean())
    typer.echo(f"added scene {scene.keyword!r} ({scene.frames} frames, face in {coverage:.0%}, "
               f"{'SCRFD + mesh' if scrfd else 'mesh'} analysis) at {scene.directory}")


@scenes_app.command("refresh")
def scenes_refresh(
    keyword: list[str] = typer.Argument(
        None, help="Scenes to analyse again (default: every scene whose cache is stale)."),
    all_scenes: bool = typer.Option(False, "--all", help="Analyse every scene again, stale or not."),
) -> None:
    """Analyse scenes again after an upgrade changed what the analysis holds (e.g. the hands)."""
    from zaobot.media.scenes import SceneLibrary, reanalyse

    setup_logging()
    settings = get_settings()
    wanted = {k.casefold() for k in keyword or []}
    done = 0
    for scene in SceneLibrary(settings.scene_dirs).scenes():
        if wanted and not wanted & set(scene.keywords):
            continue
        if not wanted and not all_scenes:
            try:
                scene.analysis  # noqa: B018 - loading it is the staleness check
                continue
            except SceneError:
                pass
        if not os.access(scene.directory, os.W_OK):
            typer.echo(f"skipped {scene.keyword!r}: {scene.directory} is not writable", err=True)
            continue
        with tqdm(total=scene.frames, unit="frame", desc=scene.keyword, disable=None, file=sys.stderr) as bar:
            reanalyse(scene, progress=bar.update)
        done += 1
    typer.echo(f"analysed {done} scene(s) again")


@scenes_app.command("list")
def scenes_list() -> None:
    """List the scenes users can choose."""
    from zaobot.media.scenes import SceneLibrary

    for scene in SceneLibrary(get_settings().scene_dirs).scenes():
        typer.echo(f"{', '.join(scene.keywords):<20} {scene.duration:5.1f}s  {scene.title}  [{scene.license}]")


def _user_ref(ref: str) -> tuple[str, str]:
    platform, sep, user_id = ref.partition(":")
    if not sep or not platform or not user_id:
        raise _fail("give the user as PLATFORM:ID, e.g. telegram:12345")
    return platform, user_id


def _store():
    from zaobot.storage import SecretKeyError, open_store

    try:
        return open_store(get_settings())
    except SecretKeyError as err:
        raise _fail(str(err)) from None


@app.command()
def serve(verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """Run the bot (Telegram and/or WeChat) with the job runner and the retention sweeper."""
    import asyncio

    from zaobot.app import PortInUse
    from zaobot.app import serve as run_serve
    from zaobot.storage import SecretKeyError

    setup_logging(verbose)
    settings = get_settings()
    from zaobot.app import wechat_enabled
    from zaobot.redact import install

    install(secret.get_secret_value() for secret in (
        settings.telegram_bot_token, settings.telegram_webhook_secret, settings.wechat_app_secret,
        settings.wechat_token, settings.wechat_aes_key, settings.secret_key, settings.console_token)
        if secret is not None)

    if settings.telegram_bot_token is None and not wechat_enabled(settings) and not settings.playground:
        raise _fail("nothing to serve: set TELEGRAM_BOT_TOKEN and/or WECHAT_APP_ID + WECHAT_TOKEN, or "
                    "ZAOBOT_PLAYGROUND=1 to try the bot in a browser (see .env.example)")
    if settings.telegram_webhook_url and not settings.telegram_webhook_secret:
        # Without a secret anyone could post forged updates, so the webhook refuses every update:
        # better to stop here than to serve a bot that silently answers nobody.
        raise _fail("TELEGRAM_WEBHOOK_URL is set but TELEGRAM_WEBHOOK_SECRET is not: set a random secret "
                    "(for example `openssl rand -hex 32`), or unset TELEGRAM_WEBHOOK_URL to use long polling")
    from zaobot.storage.db import DB_NAME, DatabaseDamaged

    try:
        asyncio.run(run_serve(settings))
    except SecretKeyError as err:
        raise _fail(str(err)) from None
    except PortInUse as err:
        raise _fail(str(err)) from None
    except DatabaseDamaged as err:
        raise _fail(f"the database {settings.data_dir / DB_NAME} is damaged ({err}). Restore it from a backup, "
                    "or move it aside to start with an empty one; not serving on it.") from None


@app.command()
def worker(
    gpu: int | None = typer.Option(None, "--gpu", help="The GPU this worker uses (sets CUDA_VISIBLE_DEVICES)."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """A render worker: takes jobs from ZAOBOT_BROKER_URL (Dramatiq on Redis). Run one per GPU."""
    from zaobot.jobs.remote_worker import run
    from zaobot.redact import install
    from zaobot.storage.keys import SecretKeyError, resolve_secret

    setup_logging(verbose)
    settings = get_settings()
    if not settings.broker_url:
        raise _fail("ZAOBOT_BROKER_URL is not set: a worker takes its jobs from Redis, e.g. redis://host:6379/0")
    try:
        configured = settings.secret_key.get_secret_value() if settings.secret_key is not None else None
        secret = resolve_secret(configured, settings.data_dir, require=True)  # must equal the front-end's
    except SecretKeyError as err:
        raise _fail(str(err)) from None
    install([secret])
    import redis

    try:
        run(settings, secret, gpu)
    except redis.ConnectionError as err:
        raise _fail(f"cannot reach the broker at {settings.broker_url.split('@')[-1]}: {err}") from None


@app.command()
def verify(clip: Path = typer.Argument(..., help="A clip to check (as received, re-encoded or cropped).")) -> None:
    """Trace a clip: invisible watermark, its job and user hash, takedown status, metadata label."""
    from zaobot.verify import verify_clip

    if not clip.is_file():
        raise _fail(f"no such file: {clip}")
    store = _store()
    try:
        report = verify_clip(clip, store)
    except Exception as err:  # noqa: BLE001 - a clip we can't decode
        raise _fail(f"cannot read {clip}: {type(err).__name__}") from None
    finally:
        store.close()
    typer.echo(report.text())


@app.command("live-check")
def live_check_cmd(
    recording: Path = typer.Argument(..., help="A recording (a video note, a short video)."),
    selfie: Path = typer.Option(..., "--selfie", help="The selfie it should prove."),
    actions: str = typer.Option("blink", "--actions", help="The challenge, in order, e.g. open_mouth,blink."),
) -> None:
    """Run the live check on files, as the bot would, and print the verdict and its scores: for an
    operator looking into a user's complaint, with the user's own files. Nothing is stored."""
    from zaobot.challenge import parse_actions
    from zaobot.models.live_check import LiveCheck

    for path in (recording, selfie):
        if not path.is_file():
            raise _fail(f"no such file: {path}")
    try:
        challenge = parse_actions(actions)
    except ValueError as err:
        raise _fail(str(err)) from None
    check = LiveCheck()
    try:
        verdict = check.check(recording.read_bytes(), selfie.read_bytes(), challenge)
    finally:
        check.close()
    typer.echo(f"{'passed' if verdict.passed else 'failed: ' + str(verdict.failed)} ({check.method})")
    for key, value in verdict.scores.items():
        typer.echo(f"  {key}: {value}")
    if verdict.missing:
        typer.echo(f"  not seen: {', '.join(verdict.missing)}")
    if not verdict.passed:
        raise typer.Exit(1)


c2pa_app = typer.Typer(no_args_is_help=True, help="C2PA signing certificates.")
app.add_typer(c2pa_app, name="c2pa")


@c2pa_app.command("init")
def c2pa_init(directory: Path | None = typer.Option(None, "--dir", help="Default: $ZAOBOT_DATA_DIR/c2pa")) -> None:
    """Make a self-signed ES256 chain for testing C2PA signing (use a real certificate in production)."""
    from zaobot.media.provenance import make_test_chain

    target = directory or get_settings().data_dir / "c2pa"
    root, chain, key = make_test_chain(target)
    typer.echo(f"ZAOBOT_C2PA_CERT={chain}\nZAOBOT_C2PA_KEY={key}\nZAOBOT_C2PA_TRUST={root}")
    typer.echo("(a self-signed test chain: validators trust it only with ZAOBOT_C2PA_TRUST)", err=True)


@app.command("purge-user")
def purge_user_cmd(
    user: str = typer.Argument(..., help="PLATFORM:ID"),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Erase every file and row about a user (audit rows stay, keyed by HMAC only)."""
    from zaobot.handlers.receipts import receipt_text
    from zaobot.storage import purge_user

    setup_logging()
    platform, user_id = _user_ref(user)
    if not yes:
        typer.confirm(f"Erase everything about {platform}:{user_id}?", abort=True)
    store = _store()
    try:
        receipt = purge_user(store, platform, user_id, reason="operator")
        typer.echo(receipt_text(receipt, "en"))
    finally:
        store.close()


@app.command("export-user")
def export_user_cmd(user: str = typer.Argument(..., help="PLATFORM:ID")) -> None:
    """Print everything stored about a user as JSON (media are listed, not included)."""
    from zaobot.storage import export_json

    platform, user_id = _user_ref(user)
    store = _store()
    try:
        typer.echo(export_json(store, platform, user_id))
    finally:
        store.close()


@app.command()
def sweep() -> None:
    """Delete selfies, clips and audit rows past their retention time."""
    from zaobot.storage import sweep as run_sweep

    setup_logging()
    store = _store()
    try:
        result = run_sweep(store)
        typer.echo(" ".join(f"{k}={v}" for k, v in vars(result).items()))
    finally:
        store.close()


@app.command()
def stats() -> None:
    """Counts of users, jobs, stored media, reports, bans and deletions."""
    from zaobot.storage import stats as get_stats

    store = _store()
    try:
        for key, value in get_stats(store).items():
            typer.echo(f"{key:<20} {value}")
    finally:
        store.close()


def main(argv: list[str] | None = None) -> None:
    app(args=argv)


if __name__ == "__main__":
    main()
