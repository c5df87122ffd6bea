#!/usr/bin/python3
"""/proc helpers for scripts/bench.sh (Linux only, stdlib only).

  procstat.py children PID     pids whose parent is PID, one per line
  procstat.py cpu PID          "TICKS NS": utime+stime in clock ticks from /proc/PID/stat and the
                               thread group's on-CPU time in ns (sum of /proc/PID/task/*/schedstat)
  procstat.py mem PID...       one line per pid: "PID VmRSS_kB Pss_kB Private_kB" (Pss and private
                               from /proc/PID/smaps_rollup; "-" when unreadable)
  procstat.py clk_tck          clock ticks per second
"""
import os
import sys


def stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    # comm may hold spaces and parentheses: split after the last ')'
    rest = s[s.rindex(")") + 2:].split()
    return rest  # rest[0] is state (field 3), rest[1] ppid (field 4), ...


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if int(stat_fields(int(d))[1]) == pid:
                out.append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    return sorted(out)


def cpu(pid):
    f = stat_fields(pid)
    ticks = int(f[11]) + int(f[12])  # fields 14 utime, 15 stime
    ns = 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as fh:
                ns += int(fh.read().split()[0])
    except OSError:
        ns = -1
    return ticks, ns


def mem(pid):
    rss = pss = priv = "-"
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = line.split()[1]
    except OSError:
        pass
    try:
        p_clean = p_dirty = 0
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k = line.split(":")[0]
                if k == "Pss":
                    pss = line.split()[1]
                elif k == "Private_Clean":
                    p_clean = int(line.split()[1])
                elif k == "Private_Dirty":
                    p_dirty = int(line.split()[1])
        priv = str(p_clean + p_dirty)
    except OSError:
        pass
    return "%d %s %s %s" % (pid, rss, pss, priv)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    try:
        if cmd == "children":
            for c in children(int(argv[2])):
                print(c)
        elif cmd == "cpu":
            print("%d %d" % cpu(int(argv[2])))
        elif cmd == "mem":
            for p in argv[2:]:
                print(mem(int(p)))
        elif cmd == "clk_tck":
            print(os.sysconf("SC_CLK_TCK"))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (OSError, ValueError) as e:
        print("procstat: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
