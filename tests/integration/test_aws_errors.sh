#!/usr/bin/env bash
# The AWS client's error paths, each one line naming the service, the
# operation and AWS's own code and message, class 3 (the environment could
# not be changed): throttling (bounded retries, then a clear error; and a
# success once the throttling stops), 5xx, access denied, not found,
# connection refused, timeout. Against the loopback stand-in
# (aws_fixture.py), which also counts the attempts made.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/aws_lib.sh"

# expect_error NAME URL LINE [aws_call args...]: the call fails with exit 3
# and exactly LINE on stderr.
expect_error() {
	local name=$1 url=$2 line=$3 rc=0
	shift 3
	AWS_ENDPOINT_URL=$url "$AWS_CALL" "$@" >/dev/null 2>"$T_DIR/$name.err" || rc=$?
	[ "$rc" = 3 ] || t_fail "$name: exit $rc, expected 3 ($(cat "$T_DIR/$name.err"))"
	[ "$(cat "$T_DIR/$name.err")" = "$line" ] || t_fail "$name: got '$(cat "$T_DIR/$name.err")', expected '$line'"
	[ "$(wc -l <"$T_DIR/$name.err")" = 1 ] || t_fail "$name: more than one line"
	aws_no_secret "$T_DIR/$name.err"
	t_log "$name: $line"
}
attempts() { grep -c . "$T_DIR/$1.requests" 2>/dev/null || echo 0; }

aws_fixture_start throttled throttle 1000
expect_error throttling "$AF_URL" \
	"aws ec2 DescribeInstances: Throttling: Rate exceeded (gave up after 5 attempts)" \
	ec2 DescribeInstances
[ "$(attempts throttled)" = 5 ] || t_fail "throttling: $(attempts throttled) attempts, expected 5"

aws_fixture_start throttled2 throttle 2
AWS_ENDPOINT_URL=$AF_URL "$AWS_CALL" ec2 StopInstances InstanceId.1=i-1 >/dev/null 2>"$T_DIR/t2.err" ||
	t_fail "a call throttled twice then answered failed: $(cat "$T_DIR/t2.err")"
[ "$(attempts throttled2)" = 3 ] || t_fail "throttled twice: $(attempts throttled2) attempts, expected 3"
t_log "throttled twice, then answered: 3 attempts, success"

aws_fixture_start e500 status 500
# aws_call sends every call as mutating: a 5xx may have been applied, so it is not repeated.
expect_error server-error "$AF_URL" \
	"aws ec2 StopInstances: InternalError: An internal error has occurred" \
	ec2 StopInstances InstanceId.1=i-1
[ "$(attempts e500)" = 1 ] || t_fail "5xx on a mutating call: $(attempts e500) attempts, expected 1"

aws_fixture_start e403 status 403
expect_error access-denied "$AF_URL" \
	"aws ec2 StopInstances: AccessDenied: User is not authorized to perform this action" \
	ec2 StopInstances InstanceId.1=i-1

aws_fixture_start e400 status 400
expect_error not-found "$AF_URL" \
	"aws ec2 StartInstances: InvalidInstanceID.NotFound: The instance ID 'i-0' does not exist" \
	ec2 StartInstances InstanceId.1=i-0

# A port nothing listens on: bound then closed.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
expect_error refused "http://127.0.0.1:$PORT" \
	"aws sts GetCallerIdentity: cannot reach http://127.0.0.1:$PORT/: Couldn't connect to server (5 attempts)" \
	sts GetCallerIdentity

aws_fixture_start hang hang
start=$SECONDS
expect_error timeout "$AF_URL" \
	"aws ec2 StopInstances: no answer from $AF_URL/ within 500ms" \
	-t 500 ec2 StopInstances InstanceId.1=i-1
[ $((SECONDS - start)) -lt 10 ] || t_fail "timeout took $((SECONDS - start)) s"
[ "$(attempts hang)" = 1 ] || t_fail "a timed-out mutating call was sent $(attempts hang) times"
t_log "ok"
