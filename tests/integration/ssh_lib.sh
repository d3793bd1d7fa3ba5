# shellcheck shell=bash
# shellcheck disable=SC2016,SC2153,SC2154  # T_* from lib.sh; sh -c scripts take "$1"
# tests/integration/ssh_lib.sh: real OpenSSH hosts for the remote-target
# tests (sourced after lib.sh).
#
# Owns: "hosts" made of a network namespace (its own veth link and address,
# names unique per test run: they carry the pid) plus a private mount and
# pid namespace, each running a real sshd with its own host key; the
# client key the test authorises, the known_hosts file it writes
# (StrictHostKeyChecking stays on), the ssh_config every ssh (faultline's
# and the test's own) uses, the ControlMaster directory, cutting and
# restoring a host's link, and tearing all of it down. On each host
# $S_REMOTE is a tmpfs only that host sees and /proc shows only its own
# processes: a path or pid that works there was reached over ssh, not
# locally. Root only: tests exit 77 (skipped) otherwise.
# Does not own: what a test asserts.

s_skip() { echo "SKIP [$T_NAME]: $*" >&2; exit 77; }

[ "$(id -u)" = 0 ] || s_skip "needs root (network namespaces, sshd)"
command -v /usr/sbin/sshd >/dev/null || s_skip "openssh-server is not installed"
command -v ssh >/dev/null || s_skip "openssh-client is not installed"
{ command -v ip && command -v unshare; } >/dev/null || s_skip "iproute2/util-linux missing"

S_DIR="$T_DIR/ssh"
S_CONFIG="$S_DIR/ssh_config"
S_REMOTE="$T_DIR/remote"        # per-host tmpfs: the "remote disk"
S_TAG="fl$$"                    # unique per run: namespaces and links
# A /24 per run from the pid (10.<100+pid%150>.<pid/150%256>.0).
S_NET="10.$((100 + $$ % 150)).$(($$ / 150 % 256))"
S_HOSTS=()
S_SSHD_PIDS=()
# Master sockets need short paths (a unix socket path holds 108 bytes).
S_CM=$(mktemp -d /tmp/flssh.XXXXXX)
t_owner_mark "$S_CM"
export FAULTLINE_SSH_CONTROL_DIR="$S_CM/f"

mkdir -p "$S_DIR" "$S_REMOTE" /run/sshd
chmod 700 "$S_DIR"
# The test's own ssh (s_ssh) has its own masters: faultline's connections
# are faultline's alone, as on a real machine.
mkdir -m 700 "$FAULTLINE_SSH_CONTROL_DIR" "$S_CM/t"
ssh-keygen -q -t ed25519 -N '' -C "faultline-test" -f "$S_DIR/id" >/dev/null
: >"$S_DIR/known_hosts"
: >"$S_CONFIG"

s_cleanup() {
	local h pid sock
	set +e   # every step runs, whatever an earlier one said
	for sock in "$FAULTLINE_SSH_CONTROL_DIR"/* "$S_CM"/t/*; do
		[ -S "$sock" ] && ssh -F "$S_CONFIG" -S "$sock" -O exit dummy >/dev/null 2>&1
	done
	for pid in "${S_SSHD_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for h in "${!S_HOSTS[@]}"; do
		ip netns del "$S_TAG-${S_HOSTS[$h]}" 2>/dev/null
		ip link del "${S_TAG}o$h" 2>/dev/null
	done
	rm -rf "$S_CM"
	return 0
}
trap 's_rc=$?; s_cleanup; (exit "$s_rc"); t_cleanup' EXIT

# s_host_add NAME INDEX: a host called NAME (ssh alias) at $S_NET.(4*INDEX+2).
s_host_add() {
	local name=$1 idx=$2 ns="$S_TAG-$1" hd="$S_DIR/$1"
	local out="${S_TAG}o$idx" in="${S_TAG}i$idx"
	local gw="$S_NET.$((4 * idx + 1))" addr="$S_NET.$((4 * idx + 2))"
	mkdir -p "$hd"
	ip netns add "$ns"
	S_HOSTS+=("$name")
	ip link add "$out" type veth peer name "$in"
	ip link set "$in" netns "$ns"
	ip addr add "$gw/30" dev "$out"
	ip link set "$out" up
	ip -n "$ns" addr add "$addr/30" dev "$in"
	ip -n "$ns" link set "$in" up
	ip -n "$ns" link set lo up
	ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$hd/hostkey" >/dev/null
	cp "$S_DIR/id.pub" "$hd/authorized_keys"
	cat >"$hd/sshd_config" <<-CFG
		ListenAddress $addr:22
		HostKey $hd/hostkey
		PidFile none
		AuthorizedKeysFile $hd/authorized_keys
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		StrictModes no
		MaxSessions 64
		MaxStartups 64
	CFG
	printf '%s,%s %s\n' "$name" "$addr" "$(cut -d' ' -f1-2 "$hd/hostkey.pub")" >>"$S_DIR/known_hosts"
	cat >>"$S_CONFIG" <<-CFG
		Host $name
		  HostName $addr
		  User root
		  IdentityFile $S_DIR/id
		  IdentitiesOnly yes
		  UserKnownHostsFile $S_DIR/known_hosts
		  GlobalKnownHostsFile /dev/null
		  StrictHostKeyChecking yes
	CFG
	# Own mounts (a tmpfs on $S_REMOTE) and pids (/proc shows only this
	# host); sshd runs in the foreground as the namespace's pid 1.
	# --kill-child: killing unshare takes sshd (and so the whole pid
	# namespace, every remote process) with it. root's home is an empty
	# tmpfs there: a real host has its own dotfiles, and this machine's
	# (a .bashrc running `pyenv init`, which bash reads for every ssh
	# command and which serialises on a lock) made each remote command take
	# up to 40 s while other tests used ssh at the same time.
	ip netns exec "$ns" unshare --mount --pid --fork --kill-child --mount-proc --propagation private \
		sh -c 'mount -t tmpfs -o mode=0755 none "$1" && mount -t tmpfs -o mode=0700 none "$3" &&
			exec /usr/sbin/sshd -D -e -f "$2"' \
		sh "$S_REMOTE" "$hd/sshd_config" "$(getent passwd root | cut -d: -f6)" </dev/null >"$hd/sshd.log" 2>&1 &
	S_SSHD_PIDS+=($!)
	t_wait_for 20 "sshd on $name" s_ssh "$name" true
}

# s_ssh HOST CMD...: the test's own ssh to HOST (same config and keys).
s_ssh() {
	local host=$1
	shift
	ssh -F "$S_CONFIG" -o BatchMode=yes -o ConnectTimeout=3 -o LogLevel=ERROR \
		-o ControlMaster=auto -o "ControlPath=$S_CM/t/%C" -o ControlPersist=30 \
		-o ServerAliveInterval=2 -o ServerAliveCountMax=3 \
		"$host" "$@" </dev/null
}

# s_link_cut HOST / s_link_restore HOST: take HOST's link down / up.
s_link_cut() { ip -n "$S_TAG-$1" link set "${S_TAG}i$(s_index "$1")" down; }
s_link_restore() { ip -n "$S_TAG-$1" link set "${S_TAG}i$(s_index "$1")" up; }
s_index() {
	local i
	for i in "${!S_HOSTS[@]}"; do
		[ "${S_HOSTS[$i]}" = "$1" ] && { echo "$i"; return; }
	done
	return 1
}
