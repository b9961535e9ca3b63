#!/bin/sh
# tui_ssh.sh - the checks of tui_tmux.sh with glimpse on the far side of
# `ssh -tt` to a loopback sshd that this test starts on 127.0.0.1 with
# throw-away keys: the remote pty, the window size travelling through SSH
# (resize mid-answer), Ctrl-C as a byte, the remote terminal restored.
# SKIP when openssh-server (Debian's sshd) is not installed or will not start.
. "${srcdir:-.}/tests/lib.sh"
. "${srcdir:-.}/tests/tui_lib.sh"
command -v tmux >/dev/null 2>&1 || skip_all "tmux is not installed"
have_refdata || skip_all "GLIMPSE_REFDATA not found"
SSHD=$(command -v sshd 2>/dev/null || echo /usr/sbin/sshd)
[ -x "$SSHD" ] || skip_all "openssh-server is not installed"
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || skip_all "no ssh client"

D="$GLIMPSE_TMP/tui_ssh.$$"
rm -rf "$D"
mkdir -p "$D"
chmod 700 "$D"
ssh-keygen -q -t ed25519 -N '' -f "$D/host_key" || skip_all "ssh-keygen failed"
ssh-keygen -q -t ed25519 -N '' -f "$D/user_key" || skip_all "ssh-keygen failed"
cp "$D/user_key.pub" "$D/authorized_keys"
# sshd started as root wants its privilege separation directory.
[ "$(id -u)" != 0 ] || [ -d /run/sshd ] || mkdir -p -m 755 /run/sshd 2>/dev/null

sshd_pid=
TUI_ON_EXIT='[ -z "$sshd_pid" ] || kill "$sshd_pid" 2>/dev/null; rm -rf "$D"'
trap 'eval "$TUI_ON_EXIT"' EXIT INT TERM
SSH=
for try in 1 2 3 4 5; do
    port=$((20000 + ($$ * 7 + try * 131) % 30000))
    cat >"$D/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $D/host_key
PidFile $D/sshd.pid
AuthorizedKeysFile $D/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
LogLevel ERROR
CONF
    "$SSHD" -D -e -f "$D/sshd_config" 2>"$D/sshd.log" &
    sshd_pid=$!
    SSH="ssh -tt -p $port -i $D/user_key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR 127.0.0.1"
    n=50
    while [ "$n" -gt 0 ]; do
        $SSH true </dev/null >/dev/null 2>&1 && break
        kill -0 "$sshd_pid" 2>/dev/null || break
        sleep 0.1
        n=$((n - 1))
    done
    [ "$n" -gt 0 ] && kill -0 "$sshd_pid" 2>/dev/null && break
    kill "$sshd_pid" 2>/dev/null
    wait "$sshd_pid" 2>/dev/null
    sshd_pid=
done
[ -n "$sshd_pid" ] || skip_all "the test sshd did not start: $(head -c 200 "$D/sshd.log" 2>/dev/null)"
diag "sshd on 127.0.0.1:$port"

tui_e2e "$SSH sh"
done_testing
