"""Tests for schedule.sh, driven as a subprocess, offline.

Each test copies schedule.sh and a fixture wrangler.toml into a fresh git repository under
tmp_path and points WRANGLER at a stub that records its arguments, its working directory and
the config file it was given. Jobs live in a state directory under tmp_path. The clock is
fixed with SCHEDULE_NOW where a test reads times; the one change that must really fire uses
SCHEDULE_SECONDS_PER_MINUTE=1 so "+1m" is one second.
"""

import calendar
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "schedule.sh"
FIXTURE = Path(__file__).resolve().parent / "fixture" / "wrangler.toml"
ORIGINAL = FIXTURE.read_text()

# 2040-01-15 08:00:00 UTC: far enough ahead that no job scheduled from it can fire during a run.
NOW = calendar.timegm((2040, 1, 15, 8, 0, 0))

WRANGLER_STUB = """#!/bin/sh
# Records one call per directory: args (one per line), cwd, and the --config file's content.
calls={calls}
n=$(ls "$calls" | wc -l | tr -d ' ')
d="$calls/$n"
mkdir "$d"
printf '%s\\n' "$@" >"$d/args"
pwd >"$d/cwd"
prev=
for a in "$@"; do
  if [ "$prev" = --config ]; then cat "$a" >"$d/config"; fi
  prev=$a
done
echo "stub wrangler: $*"
exit "$(cat {exit_file} 2>/dev/null || echo 0)"
"""

AT_STUB = """#!/bin/sh
# Stands in for at(1): keeps the job script and the arguments, answers like at does.
cat >{dir}/at.script
printf '%s\\n' "$@" >{dir}/at.args
pwd >{dir}/at.cwd
echo "warning: commands will be executed using /bin/sh" >&2
echo "job 42 at Sun Jan 15 09:30:00 2040" >&2
"""

ATRM_STUB = """#!/bin/sh
printf '%s\\n' "$@" >>{dir}/atrm.args
"""


def with_workers_dev(text, value):
    """The fixture text with its top-level workers_dev line (and only that one) changed."""
    old = "workers_dev = true # the public URL; ./schedule.sh switches it"
    assert text.count(old) == 1
    return text.replace(old, f"workers_dev = {value} # the public URL; ./schedule.sh switches it")


class Env:
    def __init__(self, tmp_path):
        self.tree = tmp_path / "tree"
        self.state = tmp_path / "state"
        self.stubs = tmp_path / "stubs"
        self.calls_dir = tmp_path / "calls"
        self.exit_file = tmp_path / "wrangler-exit"
        self.tree.mkdir()
        self.stubs.mkdir()
        self.calls_dir.mkdir()
        shutil.copy2(SCRIPT, self.tree / "schedule.sh")
        shutil.copy(FIXTURE, self.tree / "wrangler.toml")
        self.git("init", "-q")
        self.git("add", ".")
        self.git("commit", "-qm", "fixture")
        self.wrangler = self.stubs / "wrangler"
        self.wrangler.write_text(
            WRANGLER_STUB.format(calls=self.calls_dir, exit_file=self.exit_file))
        self.wrangler.chmod(0o755)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("SCHEDULE_") and k != "WRANGLER"}
        self.env.update(TZ="UTC", WRANGLER=str(self.wrangler),
                        SCHEDULE_STATE_DIR=str(self.state), SCHEDULE_BACKEND="background")

    def git(self, *args):
        return subprocess.run(
            ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid",
             "-c", "commit.gpgsign=false", *args],
            cwd=self.tree, check=True, capture_output=True, text=True).stdout

    def run(self, *args, **env):
        full = dict(self.env)
        for k, v in env.items():
            if v is None:
                full.pop(k, None)
            else:
                full[k] = str(v)
        return subprocess.run(["./schedule.sh", *args], cwd=self.tree, env=full,
                              capture_output=True, text=True, timeout=60)

    def toml(self):
        return (self.tree / "wrangler.toml").read_text()

    def changed_files(self):
        return sorted(self.git("status", "--porcelain", "--untracked-files=all").splitlines())

    def calls(self):
        out = []
        for d in sorted(self.calls_dir.iterdir(), key=lambda p: int(p.name)):
            out.append({
                "args": (d / "args").read_text().splitlines(),
                "cwd": (d / "cwd").read_text().strip(),
                "config": (d / "config").read_text() if (d / "config").exists() else None,
            })
        return out

    def pending(self):
        d = self.state / "pending"
        return sorted(p.name for p in d.iterdir()) if d.exists() else []

    def job(self, job_id, where="pending"):
        fields = {}
        for line in (self.state / where / job_id / "job").read_text().splitlines():
            k, _, v = line.partition("=")
            fields[k] = v
        return fields

    def wait_result(self, job_id, timeout=30):
        result = self.state / "done" / job_id / "result"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if result.exists() and result.read_text().strip():
                return result.read_text().split()[0]
            time.sleep(0.1)
        log = self.state / "done" / job_id / "log"
        pytest.fail(f"job {job_id} did not finish; log: "
                    f"{log.read_text() if log.exists() else '(none)'}")

    def kill_runners(self):
        for job_id in self.pending():
            job = self.job(job_id)
            if job.get("backend") == "background" and job.get("handle"):
                pid = int(job["handle"])
                if runner_cmdline(pid) and str(self.state) in runner_cmdline(pid):
                    os.kill(pid, signal.SIGTERM)


def runner_cmdline(pid):
    r = subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    return "Z" not in subprocess.run(["ps", "-p", str(pid), "-o", "stat="],
                                     capture_output=True, text=True).stdout


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.kill_runners()


def scheduled_id(result):
    m = re.search(r": id (\d+) ", result.stdout)
    assert m, result.stdout + result.stderr
    return m.group(1)


# --- lint and usage ---------------------------------------------------------------------

def test_shellcheck_is_clean():
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed (apt-get install shellcheck)")
    r = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_help_prints_usage(env):
    r = env.run("--help")
    assert r.returncode == 0
    assert "Usage:" in r.stdout and "+Nm" in r.stdout


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["disable", "tomorrow"],
    ["disable", "25:00"],
    ["disable", "12:60"],
    ["disable", "10:00pm"],
    ["disable", "+0m"],
    ["disable", "+5d"],
    ["disable", "+m"],
    ["disable", "5m"],
    ["disable", "2040-02-30 10:00"],
    ["disable", "2041-02-29 10:00"],
    ["disable", "2040-1-5 10:00"],
    ["disable", "2040-01-15", "10:00", "extra"],
    ["enable", "2040-01-15T10:00"],
    ["status", "extra"],
    ["cancel"],
    ["cancel", "abc"],
    ["cancel", "1", "2"],
])
def test_bad_arguments_print_usage_and_exit_2(env, args):
    r = env.run(*args, SCHEDULE_NOW=NOW)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Usage:" in r.stderr
    assert env.toml() == ORIGINAL
    assert env.calls() == []
    assert env.pending() == []


@pytest.mark.parametrize("var,value", [
    ("SCHEDULE_BACKEND", "cron"),
    ("SCHEDULE_NOW", "yesterday"),
    ("SCHEDULE_SECONDS_PER_MINUTE", "0"),
])
def test_bad_settings_exit_2(env, var, value):
    r = env.run("disable", "+5m", **{var: value})
    assert r.returncode == 2
    assert var in r.stderr
    assert env.pending() == []


def test_missing_config_is_an_error(env):
    (env.tree / "wrangler.toml").unlink()
    r = env.run("disable")
    assert r.returncode == 1
    assert "wrangler.toml" in r.stderr
    assert env.calls() == []


# --- now ----------------------------------------------------------------------------------

def test_disable_now_applies_with_triggers_deploy_and_updates_only_the_toml(env):
    r = env.run("disable")
    assert r.returncode == 0, r.stderr
    assert env.toml() == with_workers_dev(ORIGINAL, "false")
    assert env.changed_files() == [" M wrangler.toml"]

    [call] = env.calls()
    assert call["args"][:3] == ["triggers", "deploy", "--config"]
    assert call["args"][4:] == ["--env="]
    snapshot = Path(call["args"][3])
    assert env.tree not in snapshot.parents, "the copy given to wrangler must not be in the tree"
    assert call["config"] == with_workers_dev(ORIGINAL, "false")
    assert call["cwd"] == str(env.tree.resolve())
    assert not snapshot.exists(), "the temporary copy is cleaned up"


def test_enable_now(env):
    (env.tree / "wrangler.toml").write_text(with_workers_dev(ORIGINAL, "false"))
    env.git("commit", "-qam", "off")
    r = env.run("enable")
    assert r.returncode == 0, r.stderr
    assert env.toml() == ORIGINAL
    assert env.changed_files() == [" M wrangler.toml"]
    [call] = env.calls()
    assert call["config"] == ORIGINAL


def test_wrangler_command_may_have_several_words(env):
    r = env.run("disable", WRANGLER=f"sh {env.wrangler}")
    assert r.returncode == 0, r.stderr
    [call] = env.calls()
    assert call["args"][:3] == ["triggers", "deploy", "--config"]


def test_failed_wrangler_leaves_the_toml_alone(env):
    env.exit_file.write_text("1")
    r = env.run("disable")
    assert r.returncode == 1
    assert "not changed" in r.stderr
    assert env.toml() == ORIGINAL
    assert env.changed_files() == []
    assert len(env.calls()) == 1


def test_missing_workers_dev_line_is_added_at_top_level(env):
    text = ORIGINAL.replace("workers_dev = true # the public URL; ./schedule.sh switches it\n", "")
    (env.tree / "wrangler.toml").write_text(text)
    r = env.run("disable")
    assert r.returncode == 0, r.stderr
    assert env.toml() == text.replace("[build]", "workers_dev = false\n[build]", 1)
    assert "[env.staging]\nworkers_dev = true" in env.toml()


def test_schedule_config_variable_points_elsewhere(env, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(FIXTURE, other / "wrangler.toml")
    r = env.run("disable", SCHEDULE_CONFIG=other / "wrangler.toml")
    assert r.returncode == 0, r.stderr
    assert (other / "wrangler.toml").read_text() == with_workers_dev(ORIGINAL, "false")
    assert env.toml() == ORIGINAL
    [call] = env.calls()
    assert call["cwd"] == str(other.resolve())


# --- WHEN ---------------------------------------------------------------------------------

@pytest.mark.parametrize("when,expected", [
    (["09:30"], "2040-01-15 09:30:00 UTC"),
    (["9:05"], "2040-01-15 09:05:00 UTC"),
    (["07:15"], "2040-01-16 07:15:00 UTC"),   # already past today: tomorrow
    (["08:00"], "2040-01-16 08:00:00 UTC"),   # the clock shows it now: next time is tomorrow
    (["00:00"], "2040-01-16 00:00:00 UTC"),
    (["2040-02-29 23:59"], "2040-02-29 23:59:00 UTC"),
    (["2040-03-01", "00:00"], "2040-03-01 00:00:00 UTC"),
    (["+1m"], "2040-01-15 08:01:00 UTC"),
    (["+90m"], "2040-01-15 09:30:00 UTC"),
    (["+2h"], "2040-01-15 10:00:00 UTC"),
    (["+48h"], "2040-01-17 08:00:00 UTC"),
])
def test_when_forms(env, when, expected):
    r = env.run("disable", *when, SCHEDULE_NOW=NOW)
    assert r.returncode == 0, r.stderr
    assert expected in r.stdout
    job_id = scheduled_id(r)
    s = env.run("status")
    assert re.search(rf"^\s+{job_id}\s+disable\s+{re.escape(expected)}", s.stdout, re.M), s.stdout
    # Scheduling changes nothing yet.
    assert env.toml() == ORIGINAL
    assert env.changed_files() == []
    assert env.calls() == []


def test_hh_mm_tomorrow_across_a_daylight_saving_change(env):
    # A POSIX TZ rule, so no tz database is needed: US Eastern, DST from 2040-03-11 02:00.
    tz = "EST5EDT,M3.2.0,M11.1.0"
    noon_before = calendar.timegm((2040, 3, 10, 17, 0, 0))  # 2040-03-10 12:00 EST
    r = env.run("disable", "09:00", SCHEDULE_NOW=noon_before, TZ=tz)
    assert r.returncode == 0, r.stderr
    assert "2040-03-11 09:00:00 EDT" in r.stdout
    # 02:30 does not exist on that morning.
    r = env.run("enable", "02:30", SCHEDULE_NOW=noon_before, TZ=tz)
    assert r.returncode == 1
    assert "does not occur" in r.stderr


@pytest.mark.parametrize("when", ["2040-01-15 07:59", "2040-01-15 08:00", "2039-12-31 23:00"])
def test_a_time_in_the_past_is_refused(env, when):
    r = env.run("disable", when, SCHEDULE_NOW=NOW)
    assert r.returncode == 1
    assert "in the past" in r.stderr
    assert "Usage:" not in r.stderr
    assert env.pending() == []
    assert env.toml() == ORIGINAL


def test_two_changes_for_the_same_moment_are_refused(env):
    assert env.run("disable", "09:30", SCHEDULE_NOW=NOW).returncode == 0
    for when in (["2040-01-15 09:30"], ["+90m"]):
        r = env.run("enable", *when, SCHEDULE_NOW=NOW)
        assert r.returncode == 1, r.stdout
        assert "already pending" in r.stderr
    assert env.run("enable", "09:31", SCHEDULE_NOW=NOW).returncode == 0
    assert len(env.pending()) == 2


# --- status and cancel ----------------------------------------------------------------------

def test_status_shows_the_url_state_and_pending_changes(env):
    s = env.run("status")
    assert s.returncode == 0
    assert "workers.dev URL: on" in s.stdout
    assert "none" in s.stdout

    a = scheduled_id(env.run("disable", "18:00", SCHEDULE_NOW=NOW))
    b = scheduled_id(env.run("enable", "2040-01-16 09:00", SCHEDULE_NOW=NOW))
    s = env.run("status")
    assert re.search(rf"^\s+{a}\s+disable\s+2040-01-15 18:00:00 UTC", s.stdout, re.M), s.stdout
    assert re.search(rf"^\s+{b}\s+enable\s+2040-01-16 09:00:00 UTC", s.stdout, re.M), s.stdout
    assert "NOT RUNNING" not in s.stdout

    (env.tree / "wrangler.toml").write_text(with_workers_dev(ORIGINAL, "false"))
    assert "workers.dev URL: off" in env.run("status").stdout


def test_status_without_the_config_still_lists_pending_changes(env, tmp_path):
    a = scheduled_id(env.run("disable", "18:00", SCHEDULE_NOW=NOW))
    r = env.run("status", SCHEDULE_CONFIG=tmp_path / "nowhere" / "wrangler.toml")
    assert r.returncode == 0, r.stderr
    assert "unknown, there is no" in r.stdout
    # The job is for the tree's wrangler.toml, not the one status was asked about.
    assert re.search(rf"^\s+{a}\s+disable\s.*for {re.escape(str(env.tree.resolve()))}/wrangler.toml",
                     r.stdout, re.M), r.stdout


def test_cancel_removes_one_change_and_stops_its_job(env):
    a = scheduled_id(env.run("disable", "18:00", SCHEDULE_NOW=NOW))
    b = scheduled_id(env.run("enable", "+1h", SCHEDULE_NOW=NOW))
    pid = int(env.job(a)["handle"])
    assert alive(pid)

    r = env.run("cancel", a)
    assert r.returncode == 0, r.stderr
    assert env.pending() == [b]
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
    s = env.run("status").stdout
    assert not re.search(rf"^\s+{a}\s", s, re.M)
    assert re.search(rf"^\s+{b}\s+enable", s, re.M)

    for missing in (a, "999"):
        r = env.run("cancel", missing)
        assert r.returncode == 1
        assert "no pending change" in r.stderr
    assert env.toml() == ORIGINAL
    assert env.calls() == []


def test_status_flags_a_background_job_that_is_gone(env):
    a = scheduled_id(env.run("disable", "18:00", SCHEDULE_NOW=NOW))
    os.kill(int(env.job(a)["handle"]), signal.SIGKILL)
    time.sleep(0.2)
    assert "NOT RUNNING" in env.run("status").stdout
    assert env.run("cancel", a).returncode == 0


# --- firing ---------------------------------------------------------------------------------

def test_a_scheduled_change_really_fires(env):
    r = env.run("disable", "+1m", SCHEDULE_SECONDS_PER_MINUTE=1)
    assert r.returncode == 0, r.stderr
    job_id = scheduled_id(r)
    # As if the terminal were closed: the job must shrug off the hangup.
    pid = int(env.job(job_id)["handle"])
    os.kill(pid, signal.SIGHUP)

    assert env.wait_result(job_id) == "ok"
    assert env.toml() == with_workers_dev(ORIGINAL, "false")
    assert env.changed_files() == [" M wrangler.toml"]
    [call] = env.calls()
    assert call["args"][:3] == ["triggers", "deploy", "--config"]
    assert call["args"][4:] == ["--env="]
    assert call["config"] == with_workers_dev(ORIGINAL, "false")
    assert call["cwd"] == str(env.tree.resolve())
    s = env.run("status").stdout
    assert "workers.dev URL: off" in s
    assert re.search(r"Pending changes:\n\s+none", s), s
    assert re.search(rf"^\s+{job_id}\s+disable\s+due .*: ok", s, re.M), s


def test_a_scheduled_change_applies_what_was_set_when_scheduling(env):
    r = env.run("disable", "+3m", SCHEDULE_SECONDS_PER_MINUTE=1)
    assert r.returncode == 0, r.stderr
    job_id = scheduled_id(r)
    # Meanwhile another branch is checked out: different config, different schedule.sh.
    checked_out = ORIGINAL.replace('"2025-01-01"', '"2030-06-30"')
    (env.tree / "wrangler.toml").write_text(checked_out)
    (env.tree / "schedule.sh").write_text("#!/bin/sh\nexit 99\n")

    assert env.wait_result(job_id) == "ok"
    [call] = env.calls()
    assert call["config"] == with_workers_dev(ORIGINAL, "false")
    # The tracked file keeps what is checked out, with only workers_dev switched.
    assert env.toml() == with_workers_dev(checked_out, "false")


def test_a_scheduled_change_whose_wrangler_fails_is_reported(env):
    env.exit_file.write_text("1")
    job_id = scheduled_id(env.run("disable", "+1m", SCHEDULE_SECONDS_PER_MINUTE=1))
    assert env.wait_result(job_id) == "failed"
    assert env.toml() == ORIGINAL
    assert re.search(rf"^\s+{job_id}\s+disable\s+due .*: failed", env.run("status").stdout, re.M)


# --- the at backend, with at and atrm stubbed ---------------------------------------------------

def install_at_stubs(env):
    for name, text in (("at", AT_STUB), ("atrm", ATRM_STUB)):
        p = env.stubs / name
        p.write_text(text.format(dir=env.stubs))
        p.chmod(0o755)
    return f"{env.stubs}{os.pathsep}{os.environ['PATH']}"


def test_at_backend_hands_the_job_to_at_and_atrm(env):
    path = install_at_stubs(env)
    r = env.run("disable", "09:30", SCHEDULE_NOW=NOW, SCHEDULE_BACKEND="at", PATH=path)
    assert r.returncode == 0, r.stderr
    job_id = scheduled_id(r)
    assert (env.stubs / "at.args").read_text().split() == ["-t", "204001150930"]
    # Not the caller's directory, which may be gone by then (at would then give up).
    assert (env.stubs / "at.cwd").read_text().strip() == str(env.state.resolve())
    script = (env.stubs / "at.script").read_text()
    assert f"pending/{job_id}/schedule.sh" in script and "__run" in script
    assert "at job 42" in env.run("status", PATH=path).stdout

    r = env.run("cancel", job_id, PATH=path)
    assert r.returncode == 0, r.stderr
    assert (env.stubs / "atrm.args").read_text().split() == ["42"]
    assert env.pending() == []


def test_at_backend_job_fires_when_at_runs_it(env):
    path = install_at_stubs(env)
    r = env.run("enable", "+1m", SCHEDULE_SECONDS_PER_MINUTE=1, SCHEDULE_BACKEND="at", PATH=path)
    assert r.returncode == 0, r.stderr
    job_id = scheduled_id(r)
    (env.tree / "wrangler.toml").write_text(with_workers_dev(ORIGINAL, "false"))
    # Do what atd would do: run the script with /bin/sh, somewhere else.
    subprocess.run(["/bin/sh", str(env.stubs / "at.script")], cwd="/", env=env.env,
                   check=True, timeout=60)
    assert env.wait_result(job_id) == "ok"
    assert env.toml() == ORIGINAL
    [call] = env.calls()
    assert call["config"] == ORIGINAL


@pytest.mark.parametrize("atd_running,expected", [(True, "at job 42"), (False, "background pid")])
def test_auto_backend_uses_at_only_when_atd_runs(env, atd_running, expected):
    path = install_at_stubs(env)
    pgrep = env.stubs / "pgrep"
    pgrep.write_text(f"#!/bin/sh\nexit {0 if atd_running else 1}\n")
    pgrep.chmod(0o755)
    r = env.run("disable", "09:30", SCHEDULE_NOW=NOW, SCHEDULE_BACKEND=None, PATH=path)
    assert r.returncode == 0, r.stderr
    assert expected in env.run("status", PATH=path).stdout
