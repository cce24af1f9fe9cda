"""Command line: ``serve`` the emulator on loopback, or print its ``ground-truth``.

``python -m sources.pardot_emulator serve --port 8765 --opportunities 5000 --seed 7``
prints one line (base URL, business unit id, static token) and serves until SIGINT or
SIGTERM.
"""

import argparse
import signal
import sys
import threading
from types import FrameType

from .config import VISITOR_ACTIVITY_ELEMENTS, EmulatorConfig, FaultConfig
from .emulator import PardotEmulator
from .server import base_url, make_emulator_server


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``serve`` and ``ground-truth`` with their flags."""
    parser = argparse.ArgumentParser(prog="python -m sources.pardot_emulator")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "ground-truth"):
        sub = commands.add_parser(name)
        sub.add_argument("--opportunities", type=int, default=1000)
        sub.add_argument("--seed", type=int, default=1)
        sub.add_argument("--timezone", default="America/New_York")
        sub.add_argument("--id-gap", type=int, default=1)
        sub.add_argument(
            "--id-jump",
            type=_id_jump,
            default=None,
            metavar="AFTER,BY",
            help="after AFTER opportunities the ids jump by BY (once)",
        )
    serve = commands.choices["serve"]
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--api-version", type=int, choices=(3, 4), default=3)
    serve.add_argument("--daily-limit", type=int, default=None)
    serve.add_argument(
        "--daily-limit-status", type=int, default=200, help="HTTP status of error 122"
    )
    serve.add_argument(
        "--json-errors", action="store_true", help="error bodies in JSON even if XML is asked"
    )
    serve.add_argument(
        "--ip-not-allowed", action="store_true", help="answer every API request with error 53"
    )
    serve.add_argument("--concurrency-limit", type=int, default=5)
    serve.add_argument("--token-error-status", type=int, choices=(400, 401), default=401)
    serve.add_argument("--token-lifetime", type=float, default=7200.0)
    activities = serve.add_mutually_exclusive_group()
    activities.add_argument(
        "--query-activities",
        dest="query_activities",
        action="store_const",
        const=True,
        default=None,
        help="a query with output=full carries <opportunity_activities>",
    )
    activities.add_argument(
        "--no-query-activities",
        dest="query_activities",
        action="store_const",
        const=False,
        help="only a read carries <opportunity_activities>, not a query",
    )
    serve.add_argument(
        "--visitor-activity-element",
        choices=VISITOR_ACTIVITY_ELEMENTS,
        default=EmulatorConfig.visitor_activity_element,
        help="element name of each activity in a visitor activity query",
    )
    serve.add_argument(
        "--no-activity-opportunity-id",
        action="store_true",
        help="the visitor activity query omits <opportunity_id> (undocumented in v3/v4)",
    )
    serve.add_argument(
        "--link-bumps-updated-at",
        action="store_true",
        help="linking/unlinking a prospect moves the opportunity's updated_at (unknown)",
    )
    serve.add_argument(
        "--no-v5", action="store_true", help="no API v5 access: every v5 request is a 403"
    )
    serve.add_argument(
        "--v5-cache-lag",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="v5 answers from a snapshot this old (Pardot: up to about 60)",
    )
    serve.add_argument(
        "--v5-chain-cap",
        type=int,
        default=EmulatorConfig.v5_chain_cap,
        metavar="N",
        help="records one chain of v5 page tokens returns at most (Pardot: 100000)",
    )
    serve.add_argument("--crm-connector", action="store_true")
    serve.add_argument("--render-cache", action="store_true")
    serve.add_argument("--fault-seed", type=int, default=0)
    serve.add_argument("--latency", type=float, default=0.0)
    serve.add_argument("--latency-jitter", type=float, default=0.0)
    serve.add_argument("--error-rate", type=float, default=0.0, help="5xx rate")
    serve.add_argument("--drop-rate", type=float, default=0.0)
    serve.add_argument("--truncate-rate", type=float, default=0.0)
    serve.add_argument("--burst-66-rate", type=float, default=0.0)
    serve.add_argument("--html-error-rate", type=float, default=0.0)
    serve.add_argument("--token-expiry-after", type=int, default=None)
    return parser


def _id_jump(text: str) -> tuple[int, int]:
    after, _, by = text.partition(",")
    try:
        return int(after), int(by)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected AFTER,BY (two integers), got {text!r}"
        ) from None


def serve_config(args: argparse.Namespace) -> EmulatorConfig:
    """The account and switches ``serve`` runs with, from its parsed flags."""
    activities = args.query_activities
    if activities is None:  # neither flag: the config's default
        activities = EmulatorConfig.query_includes_activities
    return EmulatorConfig(
        opportunities=args.opportunities,
        seed=args.seed,
        timezone=args.timezone,
        id_gap=args.id_gap,
        id_jump=args.id_jump,
        api_version=args.api_version,
        daily_limit=args.daily_limit,
        daily_limit_status=args.daily_limit_status,
        json_errors=args.json_errors,
        ip_allowlisted=not args.ip_not_allowed,
        concurrency_limit=args.concurrency_limit,
        token_error_status=args.token_error_status,
        token_lifetime_seconds=args.token_lifetime,
        query_includes_activities=activities,
        visitor_activity_element=args.visitor_activity_element,
        visitor_activity_opportunity_id=not args.no_activity_opportunity_id,
        link_bumps_updated_at=args.link_bumps_updated_at,
        v5_enabled=not args.no_v5,
        v5_cache_lag_seconds=args.v5_cache_lag,
        v5_chain_cap=args.v5_chain_cap,
        crm_connector=args.crm_connector,
        render_cache=args.render_cache,
    )


def _serve(args: argparse.Namespace) -> int:
    config = serve_config(args)
    emu = PardotEmulator(config)
    emu.set_faults(
        FaultConfig(
            seed=args.fault_seed,
            latency_seconds=args.latency,
            latency_jitter_seconds=args.latency_jitter,
            error_5xx_rate=args.error_rate,
            drop_rate=args.drop_rate,
            truncate_rate=args.truncate_rate,
            burst_66_rate=args.burst_66_rate,
            html_error_rate=args.html_error_rate,
            token_expiry_after_requests=args.token_expiry_after,
        )
    )
    server = make_emulator_server(emu, args.host, args.port)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    print(
        f"{base_url(server)} business_unit_id={config.business_unit_id} "
        f"token={config.default_token}",
        flush=True,
    )
    stop.wait()
    server.shutdown()
    server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    config = EmulatorConfig(
        opportunities=args.opportunities,
        seed=args.seed,
        timezone=args.timezone,
        id_gap=args.id_gap,
        id_jump=args.id_jump,
    )
    sys.stdout.write(PardotEmulator(config).ground_truth_json() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
