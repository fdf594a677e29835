"""Write each service's generated OpenAPI document to docs/openapi/<service>.json.

python -m deploy.openapi          # rewrite them
python -m deploy.openapi --check  # exit 1 if any differs from the code
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from shared.settings import PROJECT_ROOT, SERVICES

OUT = PROJECT_ROOT / "docs" / "openapi"


def generated(service: str) -> str:
    app = importlib.import_module(f"services.{service}.app").create_app()
    spec = app.extensions["cb_api"].spec.to_dict()
    return json.dumps(spec, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    from deploy.bootstrap import ensure_keys

    ensure_keys()  # the apps load the token-verification key
    stale = []
    for service in SERVICES:
        path, text = OUT / f"{service}.json", generated(service)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print("stale OpenAPI documents (run `make openapi`): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
