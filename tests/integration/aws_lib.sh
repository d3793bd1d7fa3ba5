# shellcheck shell=bash
# tests/integration/aws_lib.sh: what the AWS tests share (sourced after lib.sh).
#
# Owns: starting the loopback AWS stand-in (aws_fixture.py) and the AWS
# emulator (moto_server) on free loopback ports, registered for lib.sh's
# EXIT trap; resetting the emulator; the fake credentials every AWS test
# uses (a recognisable secret that the tests grep every artefact for).
# Does not own: what a test asserts.

AWS_CALL="${FAULTLINE_FIXTURE_DIR:-$FAULTLINE_BUILD_DIR/tests}/aws_call"
AWS_FIXTURE="$FAULTLINE_SOURCE_DIR/tests/integration/aws_fixture.py"
# shellcheck disable=SC2034 # read by the scripts that source this file
AWS_DATA="$FAULTLINE_SOURCE_DIR/tests/data/aws"
# Nothing of the user's real AWS setup may leak into a test.
export AWS_ACCESS_KEY_ID=AKIAFAULTLINETEST01
export AWS_SECRET_ACCESS_KEY=SecretFaultlineTestKeyDoNotLeak0000000000
export AWS_DEFAULT_REGION=eu-west-1
export AWS_SHARED_CREDENTIALS_FILE=$T_DIR/no-credentials
export AWS_CONFIG_FILE=$T_DIR/no-config
export AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION AWS_ENDPOINT_URL || true
AWS_SECRET_PATTERN=SecretFaultlineTestKeyDoNotLeak

[ -x "$AWS_CALL" ] || t_fail "aws_call fixture not built: $AWS_CALL"

# aws_fixture_start NAME MODE [ARG]: starts the stand-in; sets AF_URL and
# leaves the requests it saw in $T_DIR/NAME.requests.
aws_fixture_start() {
	local name=$1 mode=$2 arg=${3:-} portfile="$T_DIR/$1.port"
	# shellcheck disable=SC2086 # $arg is empty or one word: absent, not ""
	python3 "$AWS_FIXTURE" "$portfile" "$T_DIR/$name.requests" "$mode" $arg \
		2>"$T_DIR/$name.log" &
	T_BG_PIDS+=($!)
	t_wait_for 20 "aws fixture $name" test -s "$portfile"
	# shellcheck disable=SC2034 # read by the scripts that source this file
	AF_URL="http://127.0.0.1:$(cat "$portfile")"
}

# moto_start: starts moto_server on a free loopback port; sets MOTO_URL.
moto_start() {
	command -v moto_server >/dev/null 2>&1 || { echo "moto_server not installed: skipped" >&2; exit 77; }
	local port tries=0
	while :; do
		port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
		moto_server -H 127.0.0.1 -p "$port" >"$T_DIR/moto.log" 2>&1 &
		local pid=$!
		T_BG_PIDS+=("$pid")
		MOTO_URL="http://127.0.0.1:$port"
		local deadline=$((SECONDS + 30))
		while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$pid" 2>/dev/null; do
			curl -sf -o /dev/null "$MOTO_URL/moto-api/" && return 0
			sleep 0.1
		done
		tries=$((tries + 1))
		[ "$tries" -lt 3 ] || t_fail "moto_server did not start (see $T_DIR/moto.log)"
	done
}

moto_reset() {
	curl -sf -X POST "$MOTO_URL/moto-api/reset" >/dev/null || t_fail "moto reset failed"
}

# maws ARGS...: the AWS CLI against the emulator (state set-up and read-back).
maws() {
	aws --endpoint-url "$MOTO_URL" --output json "$@"
}

# aws_no_secret FILE...: fails when any file contains the test secret.
aws_no_secret() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || continue
		if grep -rqa "$AWS_SECRET_PATTERN" "$f"; then
			t_fail "the AWS secret leaked into $f"
		fi
	done
}

# ---- drills against the emulator ----------------------------------------
# aws_drill_helpers: starts a loopback HTTP service for a drill's probe (the
# emulator has no data plane; sets SVC_PORT).
aws_drill_helpers() {
	SVC_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
	python3 -m http.server "$SVC_PORT" --bind 127.0.0.1 --directory "$T_DIR" >/dev/null 2>&1 &
	T_BG_PIDS+=($!)
	t_wait_for 20 "loopback service" curl -sf -o /dev/null "http://127.0.0.1:$SVC_PORT/"
}

# run_instance KEY=VALUE...: one reservation of one instance; prints its id.
run_instance() {
	local args=(ec2 RunInstances ImageId=ami-12c6146b MinCount=1 MaxCount=1
		TagSpecification.1.ResourceType=instance) i=1 kv
	for kv in "$@"; do
		args+=("TagSpecification.1.Tag.$i.Key=${kv%%=*}" "TagSpecification.1.Tag.$i.Value=${kv#*=}")
		i=$((i + 1))
	done
	"$AWS_CALL" "${args[@]}" | grep -o '<instanceId>[^<]*' | head -n 1 | cut -d'>' -f2
}
state_of() {
	"$AWS_CALL" ec2 DescribeInstances InstanceId.1="$1" | grep -o '<instanceState><code>[0-9]*</code><name>[a-z-]*' | sed 's/.*<name>//'
}
is_state() { [ "$(state_of "$1")" = "$2" ]; }

# write_env ACCOUNT SELECT-JSON: the environment with one AWS target "web".
write_env() {
	cat >"$T_DIR/env.json" <<JSON
{ "name": "aws-test", "production": false,
  "targets": { "web": { "kind": "cloud", "provider": "aws", "region": "eu-west-1",
    "accounts": ["$1"], "endpoint_url": "$MOTO_URL",
    "required_tag": "faultline:environment=staging", "select": $2 } } }
JSON
}
# write_drill DURATION [FAULT-JSON]: the drill (default fault: aws.ec2 stop);
# DRILL_EXTRA, when set, is more top-level members ending with a comma.
write_drill() {
	local fault=${2:-}
	[ -n "$fault" ] || fault='{ "name": "stop-web", "injector": "aws.ec2", "target": "web", "action": "stop", "duration": "'"$1"'" }'
	cat >"$T_DIR/drill.json" <<JSON
{ "name": "aws-ec2-stop", "environment": "env.json", "targets": { "rto": "60s" }, ${DRILL_EXTRA:-}
  "probes": [ { "name": "svc", "type": "http", "url": "http://127.0.0.1:$SVC_PORT/",
                "interval": "100ms", "timeout": "500ms", "availability": true } ],
  "faults": [ $fault ] }
JSON
}
