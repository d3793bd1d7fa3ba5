# shellcheck shell=bash
# ci/lib.sh: shared functions of ci/test.sh and ci/demo.sh (sourced).
#
# Owns: the list of Debian packages faultline needs to build, test and run
# its demo (one array: extend it here), installing the missing ones, and
# configuring/building a build directory. Does not own: what is tested or run.

# Everything a fresh Debian 12 box needs. Keep one package per line.
FAULTLINE_PACKAGES=(
	build-essential
	cmake
	pkg-config
	libcurl4-openssl-dev
	libjansson-dev
	libxml2-dev
	libgsl-dev
	libsqlite3-dev
	sqlite3
	libcmocka-dev
	libpq-dev
	postgresql-15
	faketime
	libfaketime
	python3
	python3-jsonschema
	curl
	procps
	util-linux
	iproute2
	nftables
	iptables
	libnetfilter-queue-dev
	openssh-client
	openssh-server
)

# What only the test suite needs on top (ci/test.sh adds these): a real
# browser to render the HTML report, a real Alertmanager for detection,
# the linters of the habits steps (shellcheck, clang-format), promtool
# (package prometheus) to parse the metrics textfile, tmux to drive a game
# day through a real terminal.
# shellcheck disable=SC2034 # used by ci/test.sh, which sources this file
FAULTLINE_TEST_PACKAGES=(
	chromium
	prometheus-alertmanager
	shellcheck
	clang-format
	prometheus
	tmux
)

FAULTLINE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FAULTLINE_JOBS=${FAULTLINE_JOBS:-2}

ci_log() { printf '==> %s\n' "$*" >&2; }

# ci_missing_packages: prints the packages of FAULTLINE_PACKAGES that are
# not installed, one per line.
ci_missing_packages() {
	local p
	for p in "${FAULTLINE_PACKAGES[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || printf '%s\n' "$p"
	done
}

# ci_install_deps: installs the missing packages with apt-get (as root, or
# through sudo when available); exits 3 when it cannot.
ci_install_deps() {
	local -a missing sudo=()
	if ! command -v dpkg >/dev/null 2>&1; then
		ci_log "dpkg not found: install the equivalents of: ${FAULTLINE_PACKAGES[*]}"
		exit 3
	fi
	mapfile -t missing < <(ci_missing_packages)
	if [ "${#missing[@]}" -eq 0 ]; then
		ci_log "all ${#FAULTLINE_PACKAGES[@]} packages are installed"
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo)
		else
			ci_log "missing packages and neither root nor sudo: apt-get install -y ${missing[*]}"
			exit 3
		fi
	fi
	ci_log "installing: ${missing[*]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ci_configure DIR BUILD_TYPE [CMAKE_ARG...]: configure DIR.
ci_configure() {
	local dir=$1 type=$2
	shift 2
	ci_log "configure $dir ($type $*)"
	cmake -S "$FAULTLINE_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null || return
}

# ci_build DIR BUILD_TYPE [CMAKE_ARG...]: configure DIR and build every target.
ci_build() {
	ci_configure "$@" || return
	ci_log "build $1"
	cmake --build "$1" -j "$FAULTLINE_JOBS" || return
}

# ci_step NAME COMMAND...: runs COMMAND, records "NAME: ok" or "NAME: FAILED (rc)"
# in the caller's results array and sets failed=1 on failure; never stops
# the script, so every stage reports.
ci_step() {
	local name=$1
	shift
	ci_log "$name"
	if "$@"; then
		results+=("$name: ok")
	else
		results+=("$name: FAILED ($?)")
		# shellcheck disable=SC2034 # the caller's variable (see above)
		failed=1
	fi
}
