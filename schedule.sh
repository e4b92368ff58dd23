#!/usr/bin/env bash
# schedule.sh: switch the Worker's public workers.dev URL off and on, now or at a set time.
#
# Why it is built this way:
# - The switch is the top-level `workers_dev` line of wrangler.toml. It is applied with
#   `wrangler triggers deploy --config FILE --env=`, which sets routes, the workers.dev subdomain and
#   cron triggers but uploads no code: the Worker version that is deployed stays as it is.
# - wrangler is given a copy of wrangler.toml with workers_dev already set, and the tracked
#   wrangler.toml is rewritten only after wrangler succeeded. So the next ordinary
#   `wrangler deploy` keeps the state, and the file never claims a state that was not applied.
# - A scheduled change is frozen when it is scheduled: the job directory under the state
#   directory holds that copy of wrangler.toml, a copy of this script (which is what runs)
#   and the wrangler command. A branch checked out in the meantime, with another
#   wrangler.toml or an older schedule.sh, does not change what fires; at fire time only the
#   workers_dev line of whatever wrangler.toml is then in place is updated.
# - Jobs run under `at` when atd is running (they survive logout and reboot); otherwise as a
#   nohup'd process with its pid and log in the job directory (it survives closing the
#   terminal, not a reboot). Either way the job waits on the wall clock in short steps, so a
#   machine that was asleep fires when it wakes instead of a full sleep later.
# - Only bash (3.2 as shipped on macOS, too), date and awk are assumed; GNU and BSD date are
#   told apart once and each is used with its own flags.
#
# Environment (see docs/schedule.md):
#   WRANGLER                     command used instead of `npx wrangler` (split on spaces)
#   SCHEDULE_CONFIG              wrangler.toml to use (default: the one next to this script)
#   SCHEDULE_STATE_DIR           where jobs live (default: ~/.local/state/api-proxy-schedule)
#   SCHEDULE_BACKEND             auto (default), at or background
#   SCHEDULE_NOW                 epoch seconds taken as "now" when reading WHEN (tests)
#   SCHEDULE_SECONDS_PER_MINUTE  length of a minute in +Nm/+Nh, default 60 (tests)

set -u
set -o pipefail

prog=${0##*/}

usage() {
	cat <<EOF
Usage:
  $prog disable [WHEN]   switch the public workers.dev URL off, now or at WHEN
  $prog enable [WHEN]    switch it on, now or at WHEN
  $prog status           workers_dev in wrangler.toml, pending changes, recent results
  $prog cancel ID        remove a pending change

WHEN, in local time:
  HH:MM              the next time the clock shows it
  YYYY-MM-DD HH:MM   that date and time (one argument or two)
  +Nm | +Nh          N minutes or hours from now
EOF
}

bad_usage() {
	if [ $# -gt 0 ]; then echo "$prog: $*" >&2; fi
	usage >&2
	exit 2
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

# --- time -----------------------------------------------------------------------------

if date --version >/dev/null 2>&1; then gnu_date=1; else gnu_date=0; fi

# fmt_epoch EPOCH FORMAT: the local time of EPOCH in strftime FORMAT
fmt_epoch() {
	if [ "$gnu_date" = 1 ]; then date -d "@$1" "+$2"; else date -r "$1" "+$2"; fi
}

# local_epoch YYYY-MM-DD HH:MM (zero-padded): epoch seconds, or failure when that local time
# does not exist (Feb 30, or a time skipped by a daylight-saving change). Formatting the
# result back catches what either date would otherwise silently roll over.
local_epoch() {
	local want="$1 $2" e
	if [ "$gnu_date" = 1 ]; then
		e=$(date -d "$want" +%s 2>/dev/null) || return 1
	else
		# BSD date takes fields missing from the format from the current time: give seconds.
		e=$(date -j -f '%Y-%m-%d %H:%M:%S' "$want:00" +%s 2>/dev/null) || return 1
	fi
	[ "$(fmt_epoch "$e" '%Y-%m-%d %H:%M')" = "$want" ] || return 1
	echo "$e"
}

show_time() {
	fmt_epoch "$1" '%Y-%m-%d %H:%M:%S %Z'
}

# parse_when WORD...: sets `target` (epoch seconds). Returns 2 when WHEN cannot be read,
# 1 (with a message) when it reads but names no real local time.
parse_when() {
	local when re_rel re_hm re_date n h m hm today noon tomorrow
	case $# in
	1) when=$1 ;;
	2) when="$1 $2" ;;
	*) return 2 ;;
	esac
	re_rel='^\+([0-9]{1,6})([mh])$'
	re_hm='^([0-9]{1,2}):([0-9]{2})$'
	re_date='^([0-9]{4})-([0-9]{2})-([0-9]{2})[[:space:]]+([0-9]{1,2}):([0-9]{2})$'
	if [[ $when =~ $re_rel ]]; then
		n=$((10#${BASH_REMATCH[1]}))
		[ "$n" -ge 1 ] || return 2
		if [ "${BASH_REMATCH[2]}" = m ]; then
			target=$((now + n * spm))
		else
			target=$((now + n * 60 * spm))
		fi
	elif [[ $when =~ $re_hm ]]; then
		h=$((10#${BASH_REMATCH[1]}))
		m=$((10#${BASH_REMATCH[2]}))
		[ "$h" -le 23 ] && [ "$m" -le 59 ] || return 2
		hm=$(printf '%02d:%02d' "$h" "$m")
		today=$(fmt_epoch "$now" %Y-%m-%d)
		if target=$(local_epoch "$today" "$hm") && [ "$target" -gt "$now" ]; then
			return 0
		fi
		# Tomorrow is the day of today's noon plus 24 h: no DST change moves that off the day.
		if noon=$(local_epoch "$today" 12:00); then
			tomorrow=$(fmt_epoch $((noon + 86400)) %Y-%m-%d)
		else
			tomorrow=$(fmt_epoch $((now + 86400)) %Y-%m-%d)
		fi
		target=$(local_epoch "$tomorrow" "$hm") || {
			echo "$prog: $hm does not occur on $tomorrow (daylight-saving change)" >&2
			return 1
		}
	elif [[ $when =~ $re_date ]]; then
		h=$((10#${BASH_REMATCH[4]}))
		m=$((10#${BASH_REMATCH[5]}))
		[ "$h" -le 23 ] && [ "$m" -le 59 ] || return 2
		hm=$(printf '%02d:%02d' "$h" "$m")
		target=$(local_epoch "${BASH_REMATCH[1]}-${BASH_REMATCH[2]}-${BASH_REMATCH[3]}" "$hm") ||
			return 2
	else
		return 2
	fi
}

# --- wrangler.toml --------------------------------------------------------------------

# The value of the top-level workers_dev (before any [table] header), or nothing.
read_workers_dev() {
	awk '
		/^[[:space:]]*\[/ { exit }
		/^[[:space:]]*workers_dev[[:space:]]*=/ {
			v = $0
			sub(/^[^=]*=[[:space:]]*/, "", v)
			sub(/[[:space:]]*(#.*)?$/, "", v)
			print v
			exit
		}' "$1"
}

# set_workers_dev VALUE IN OUT: IN with the top-level workers_dev set to VALUE, keeping a
# trailing comment; the line is added before the first [table] when there is none.
set_workers_dev() {
	awk -v want="$1" '
		function put(rest) { print "workers_dev = " want rest; done = 1 }
		!intable && /^[[:space:]]*\[/ {
			if (!done) put("")
			intable = 1
		}
		!intable && !done && /^[[:space:]]*workers_dev[[:space:]]*=/ {
			i = index($0, "#")
			put(i ? " " substr($0, i) : "")
			next
		}
		{ print }
		END { if (!done) put("") }' "$2" >"$3"
}

# --- state ----------------------------------------------------------------------------

have_lock=0

lock() {
	local tries=0 max=${1:-50}
	until mkdir "$state/lock" 2>/dev/null; do
		tries=$((tries + 1))
		if [ "$tries" -ge "$max" ]; then
			echo "$prog: $state/lock is held; if no $prog is running, remove that directory" >&2
			return 1
		fi
		sleep 0.1
	done
	have_lock=1
}

unlock() {
	if [ "$have_lock" = 1 ]; then rmdir "$state/lock" 2>/dev/null; fi
	have_lock=0
	return 0
}

trap unlock EXIT

ensure_state() {
	mkdir -p "$state/pending" "$state/done" || die "cannot create $state"
	chmod 700 "$state"
}

# read_job FILE: sets j_action, j_value, j_target, j_config, j_wrangler, j_backend, j_handle
read_job() {
	local k v
	j_action='' j_value='' j_target=0 j_config='' j_wrangler='' j_backend='' j_handle=''
	while IFS='=' read -r k v; do
		case $k in
		action) j_action=$v ;;
		value) j_value=$v ;;
		target) j_target=$v ;;
		config) j_config=$v ;;
		wrangler) j_wrangler=$v ;;
		backend) j_backend=$v ;;
		handle) j_handle=$v ;;
		esac
	done <"$1"
}

# job_ids pending|done: the ids there, oldest first
job_ids() {
	local d
	for d in "$state/$1"/*/; do
		[ -d "$d" ] || continue
		d=${d%/}
		echo "${d##*/}"
	done | sort -n
}

# The runner of a background job, if that pid is still it (pids get reused).
runner_alive() {
	local id=$1 pid=$2
	[ -n "$pid" ] || return 1
	ps -p "$pid" -o command= 2>/dev/null | grep -qF "/pending/$id/schedule.sh __run $id"
}

# --- applying -------------------------------------------------------------------------

# apply VALUE SNAPSHOT CONFIG WRANGLER-WORD...
apply() {
	local value=$1 snap=$2 cfg=$3 dir tmp
	shift 3
	dir=$(dirname "$cfg")
	# From the config's directory, so `npx wrangler` finds the project's own wrangler.
	# --env= names the top-level environment, whose workers_dev this is, even when
	# CLOUDFLARE_ENV is set in the caller's environment.
	echo "+ $* triggers deploy --config $snap --env="
	if ! (cd "$dir" 2>/dev/null || cd "$state"; "$@" triggers deploy --config "$snap" --env=); then
		echo "$prog: wrangler failed; $cfg was not changed" >&2
		return 1
	fi
	if [ ! -f "$cfg" ]; then
		echo "$prog: applied, but $cfg no longer exists to record workers_dev = $value" >&2
		return 0
	fi
	tmp="$state/write.$$"
	if ! lock 100; then
		echo "$prog: applied, but could not write workers_dev = $value to $cfg" >&2
		return 1
	fi
	# cat over the file rather than mv: keeps its mode, owner and any hard links.
	if set_workers_dev "$value" "$cfg" "$tmp" && cat "$tmp" >"$cfg"; then
		rm -f "$tmp"
		unlock
		echo "workers_dev = $value written to $cfg"
	else
		rm -f "$tmp"
		unlock
		echo "$prog: applied, but could not write workers_dev = $value to $cfg" >&2
		return 1
	fi
}

change_now() {
	local value=$1 snap rc
	ensure_state
	snap="$state/now.$$.toml"
	set_workers_dev "$value" "$config" "$snap" || die "cannot write $snap"
	apply "$value" "$snap" "$config" "${wrangler[@]}"
	rc=$?
	rm -f "$snap"
	return "$rc"
}

# Start the job in pending/ID and print its handle (at job number or pid).
start_job() {
	local id=$1 jobdir="$state/pending/$1" at_epoch at_time cmd out
	case $backend in
	at)
		# at counts in whole minutes; the job sleeps the remaining seconds itself.
		at_epoch=$((target / 60 * 60))
		if [ "$at_epoch" -le "$(date +%s)" ]; then at_time=now; else
			at_time=$(fmt_epoch "$at_epoch" %Y%m%d%H%M)
		fi
		cmd=$(printf 'SCHEDULE_STATE_DIR=%q exec bash %q __run %q >>%q 2>&1' \
			"$state" "$jobdir/schedule.sh" "$id" "$jobdir/log")
		# at records the current directory and gives up if it is gone by then: use ours.
		out=$(cd "$state" && if [ "$at_time" = now ]; then
			printf '%s\n' "$cmd" | at now 2>&1
		else
			printf '%s\n' "$cmd" | at -t "$at_time" 2>&1
		fi) || {
			echo "$out" >&2
			return 1
		}
		printf '%s\n' "$out" | awk '$1 == "job" { print $2; found = 1; exit } END { exit !found }'
		;;
	background)
		# From the state directory, so the job does not hold on to a worktree or a mount.
		cd "$state" || return 1
		SCHEDULE_STATE_DIR=$state nohup bash "$jobdir/schedule.sh" __run "$id" \
			>>"$jobdir/log" 2>&1 </dev/null &
		echo "$!"
		;;
	esac
}

schedule() {
	local action=$1 value=$2 id last jobdir handle f
	shift 2
	parse_when "$@"
	case $? in
	0) ;;
	1) exit 1 ;;
	*) bad_usage "cannot read WHEN: $*" ;;
	esac
	[ "$target" -gt "$now" ] || die "$(show_time "$target") is in the past; nothing scheduled"

	ensure_state
	lock || exit 1
	for f in "$state"/pending/*/job; do
		[ -f "$f" ] || continue
		read_job "$f"
		if [ $((j_target / 60)) -eq $((target / 60)) ]; then
			id=${f%/job}
			die "change ${id##*/} ($j_action at $(show_time "$j_target")) is already pending" \
				"for that minute; cancel it first"
		fi
	done
	last=$(cat "$state/last-id" 2>/dev/null) || last=0
	id=$((${last:-0} + 1))
	echo "$id" >"$state/last-id"
	jobdir="$state/pending/$id"
	if ! { mkdir "$jobdir" &&
		set_workers_dev "$value" "$config" "$jobdir/wrangler.toml" &&
		cp "$self" "$jobdir/schedule.sh" &&
		printf '%s\n' "action=$action" "value=$value" "target=$target" "config=$config" \
			"wrangler=${wrangler[*]}" "backend=$backend" >"$jobdir/job"; }; then
		rm -rf "$jobdir"
		die "cannot write $jobdir"
	fi
	unlock

	if ! handle=$(start_job "$id"); then
		rm -rf "$jobdir"
		die "could not hand the job to $backend; nothing scheduled"
	fi
	# A job due at once may already have moved itself to done/.
	{ echo "handle=$handle" >>"$jobdir/job"; } 2>/dev/null
	echo "Scheduled $action at $(show_time "$target"): id $id ($backend ${handle})"
}

run_job() {
	local id=$1 jobdir="$state/pending/$1" sleeper='' left
	[ -f "$jobdir/job" ] || exit 0
	read_job "$jobdir/job"
	trap 'if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null; fi; exit 143' TERM INT
	while left=$((j_target - $(date +%s))) && [ "$left" -gt 0 ]; do
		[ "$left" -le 30 ] || left=30
		sleep "$left" &
		sleeper=$!
		wait "$sleeper"
		sleeper=''
	done
	# Claiming the job under the lock is what makes a concurrent cancel either win or miss.
	lock 600 || exit 1
	if [ ! -d "$jobdir" ]; then exit 0; fi
	mv "$jobdir" "$state/done/$id" || die "cannot move $jobdir"
	unlock
	trap - TERM INT
	jobdir="$state/done/$id"
	echo "$(date) firing $j_action"
	local words
	read -r -a words <<<"$j_wrangler"
	if apply "$j_value" "$jobdir/wrangler.toml" "$j_config" "${words[@]}"; then
		echo "ok $(date +%s)" >"$jobdir/result"
	else
		echo "failed $(date +%s)" >"$jobdir/result"
		exit 1
	fi
}

cancel() {
	local id=$1 jobdir
	jobdir="$state/pending/$id"
	[ -d "$state" ] || die "no pending change with id $id"
	lock || exit 1
	[ -f "$jobdir/job" ] || die "no pending change with id $id"
	read_job "$jobdir/job"
	case $j_backend in
	at)
		if [ -n "$j_handle" ]; then
			atrm "$j_handle" || echo "$prog: atrm $j_handle failed; removing the job anyway" >&2
		fi
		;;
	background)
		if runner_alive "$id" "$j_handle"; then kill "$j_handle"; fi
		;;
	esac
	rm -rf "$jobdir"
	unlock
	echo "Cancelled $id ($j_action at $(show_time "$j_target"))"
}

status() {
	local v f id note res when
	if [ ! -f "$config" ]; then
		echo "workers.dev URL: unknown, there is no $config"
	else
		v=$(read_workers_dev "$config")
		case $v in
		true) echo "workers.dev URL: on (workers_dev = true in $config)" ;;
		false) echo "workers.dev URL: off (workers_dev = false in $config)" ;;
		'') echo "workers.dev URL: workers_dev not set in $config (wrangler: on unless routes are set)" ;;
		*) echo "workers.dev URL: workers_dev = $v in $config (not true or false)" ;;
		esac
	fi

	echo "Pending changes:"
	local n=0
	while read -r id; do
		f="$state/pending/$id/job"
		[ -f "$f" ] || continue
		read_job "$f"
		case $j_backend in
		at) note="at job $j_handle" ;;
		background)
			note="background pid $j_handle"
			runner_alive "$id" "$j_handle" || note="$note NOT RUNNING (cancel and schedule again)"
			;;
		esac
		[ "$j_config" = "$config" ] || note="$note for $j_config"
		printf '  %-4s %-8s %s  (%s)\n' "$id" "$j_action" "$(show_time "$j_target")" "$note"
		n=$((n + 1))
	done < <(job_ids pending)
	[ "$n" -gt 0 ] || echo "  none"

	local recent
	recent=$(job_ids "done" | tail -n 5)
	[ -n "$recent" ] || return 0
	echo "Recent results:"
	for id in $recent; do
		f="$state/done/$id/job"
		[ -f "$f" ] || continue
		read_job "$f"
		res=running
		when=''
		if [ -f "$state/done/$id/result" ]; then
			read -r res when <"$state/done/$id/result"
			when=" $(show_time "$when")"
		fi
		printf '  %-4s %-8s due %s: %s%s (log: %s)\n' "$id" "$j_action" \
			"$(show_time "$j_target")" "$res" "$when" "$state/done/$id/log"
	done
}

# --- main -----------------------------------------------------------------------------

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P) || die "cannot find my own directory"
self="$here/${BASH_SOURCE[0]##*/}"
state=${SCHEDULE_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/api-proxy-schedule}

if [ "${1:-}" = __run ]; then
	[ $# -eq 2 ] || exit 2
	run_job "$2"
	exit $?
fi

config=${SCHEDULE_CONFIG:-$here/wrangler.toml}
# Jobs outlive the current directory: keep the config's absolute path.
if [ -d "$(dirname "$config")" ]; then
	config="$(cd "$(dirname "$config")" && pwd -P)/${config##*/}"
fi

read -r -a wrangler <<<"${WRANGLER:-}"
[ "${#wrangler[@]}" -gt 0 ] || wrangler=(npx wrangler)

spm=${SCHEDULE_SECONDS_PER_MINUTE:-60}
[[ $spm =~ ^[1-9][0-9]*$ ]] || bad_usage "SCHEDULE_SECONDS_PER_MINUTE must be a positive integer"
now=${SCHEDULE_NOW:-$(date +%s)}
[[ $now =~ ^[0-9]+$ ]] || bad_usage "SCHEDULE_NOW must be epoch seconds"

case ${SCHEDULE_BACKEND:-auto} in
at) backend='at' ;;
background) backend=background ;;
auto)
	# macOS has at, but its atrun is off by default and has no atd process to see: there
	# this picks background unless SCHEDULE_BACKEND=at says atrun was turned on.
	if command -v at >/dev/null 2>&1 && pgrep -x atd >/dev/null 2>&1; then
		backend='at'
	else
		backend=background
	fi
	;;
*) bad_usage "SCHEDULE_BACKEND must be auto, at or background" ;;
esac

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
disable | enable)
	[ $# -le 2 ] || bad_usage "too many arguments"
	[ -f "$config" ] || die "no $config (set SCHEDULE_CONFIG to use another file)"
	if [ "$cmd" = enable ]; then value=true; else value=false; fi
	if [ $# -eq 0 ]; then
		change_now "$value" || exit 1
	else
		if [ "$backend" = at ] && ! command -v at >/dev/null 2>&1; then
			die "SCHEDULE_BACKEND=at but there is no at command"
		fi
		schedule "$cmd" "$value" "$@"
	fi
	;;
status)
	[ $# -eq 0 ] || bad_usage "status takes no arguments"
	status
	;;
cancel)
	if [ $# -ne 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
		bad_usage "cancel needs the numeric ID shown by status"
	fi
	cancel "$1"
	;;
-h | --help | help)
	usage
	;;
'') bad_usage ;;
*) bad_usage "unknown command: $cmd" ;;
esac
