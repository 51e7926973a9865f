#!/usr/bin/env bash
# The wheel installs anywhere: build it, install it in a fresh virtual environment
# outside the checkout, and run a smoke test there (version, demo on a small cache,
# journal verify answering in French, a resource found, no French catalogue -> refused).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d /tmp/alamara-wheel-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
step() { printf 'wheel smoke: %s\n' "$*"; }
fail() { printf 'wheel smoke FAILED: %s\n' "$*" >&2; exit 1; }

step "building the wheel"
"$ROOT/.venv/bin/python" -m pip wheel -q --no-deps -w "$WORK/dist" "$ROOT" >/dev/null 2>"$WORK/build.log" \
  || { cat "$WORK/build.log" >&2; fail "the wheel did not build"; }
WHEEL="$(ls "$WORK"/dist/*.whl)"
"$ROOT/.venv/bin/python" - "$WHEEL" <<'PY' || fail "the wheel lacks its catalogues or resources"
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = ["pos_returns/data/locales/fr/LC_MESSAGES/pos_returns.mo",
        "pos_returns/data/resources/style.qss", "pos_returns/data/resources/logo.svg"]
missing = [n for n in need if n not in names]
assert not missing, missing
PY

step "installing it in a fresh virtual environment ($WORK/venv)"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q --disable-pip-version-check "$WHEEL" >"$WORK/pip.log" 2>&1 \
  || { tail -20 "$WORK/pip.log" >&2; fail "pip install of the wheel failed"; }

cd "$WORK"  # outside the checkout: nothing may come from the repository
export XDG_DATA_HOME="$WORK/data" XDG_CONFIG_HOME="$WORK/config" POS_RETURNS_CONFIG="$WORK/none.toml"
BIN="$WORK/venv/bin"

step "version"
version="$("$BIN/pos-returns" --version)"
[[ "$version" == "pos-returns "* ]] || fail "--version said: $version"

step "demo on a small cache"
"$BIN/pos-returns" demo --sales 300 --returns 5 --seed 3 --db "$WORK/cache.sqlite" >"$WORK/demo.log" 2>&1 \
  || { cat "$WORK/demo.log" >&2; fail "demo failed"; }

step "journal verify answers in French"
"$BIN/pos-returns" journal verify --db "$WORK/cache.sqlite" >"$WORK/verify.log" 2>&1 \
  || { cat "$WORK/verify.log" >&2; fail "journal verify failed"; }
grep -qiE "journal|chaîne|enregistrement" "$WORK/verify.log" || fail "verify said: $(cat "$WORK/verify.log")"
grep -qE "é|è|à|ç" "$WORK/verify.log" || fail "verify did not answer in French: $(cat "$WORK/verify.log")"

step "resources found inside the installed package"
"$BIN/python" - <<'PY' || fail "a resource was not found in the installed package"
from pos_returns.resources import locale_dir, resource
assert "site-packages" in str(resource("style.qss")), resource("style.qss")
assert resource("style.qss").is_file() and resource("logo.svg").is_file()
assert (locale_dir() / "fr" / "LC_MESSAGES" / "pos_returns.mo").is_file()
PY

step "without its French catalogue the till refuses to start"
mo="$("$BIN/python" -c 'from pos_returns.resources import locale_dir; print(locale_dir() / "fr" / "LC_MESSAGES" / "pos_returns.mo")')"
rm -f "$mo"
set +e
"$BIN/pos-returns" journal verify --db "$WORK/cache.sqlite" >"$WORK/nocat.log" 2>&1
code=$?
set -e
[ "$code" -eq 3 ] || fail "without the catalogue the exit code was $code: $(cat "$WORK/nocat.log")"
grep -q "catalogue français" "$WORK/nocat.log" || fail "without the catalogue it said: $(cat "$WORK/nocat.log")"
step "all good ($(basename "$WHEEL"))"
