# lib.sh - helpers for glimpse's shell tests (sourced). They print TAP.
#   ok COND-EXIT-STATUS "message" ; skip_all "reason" ; done_testing
# Environment (set by make check): GLIMPSE_BIN, GLIMPSE_REFDATA, GLIMPSE_TMP, GLIMPSE_TESTBIN.

: "${GLIMPSE_BIN:=$(pwd)/src/glimpse}"
: "${GLIMPSE_TESTBIN:=$(pwd)/tests}"
: "${GLIMPSE_TMP:=${TMPDIR:-/tmp}}"
mkdir -p "$GLIMPSE_TMP"
_tap_n=0
_tap_failed=0

# ok STATUS MESSAGE: pass when STATUS is 0.
ok() {
    _tap_n=$((_tap_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $_tap_n - $2"
    else
        echo "not ok $_tap_n - $2"
        _tap_failed=$((_tap_failed + 1))
    fi
}

diag() { printf '# %s\n' "$*"; }

skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n # SKIP $*"; }

skip_all() { echo "1..0 # SKIP $*"; exit 0; }

# have_refdata: true when the reference data directory exists.
have_refdata() { [ -n "${GLIMPSE_REFDATA:-}" ] && [ -d "$GLIMPSE_REFDATA" ]; }

done_testing() {
    echo "1..$_tap_n"
    [ "$_tap_failed" -eq 0 ]
}
