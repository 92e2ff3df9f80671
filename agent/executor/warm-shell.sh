# A step's PID 1 started ahead with the step's shell (warm-start.ts, where the step runs as the agent's user), with
# no environment: joins the cgroups made ahead for its step, then runs the shell as its child at once. The shell
# reads its BASH_ENV (warm-shell-start.sh, written by the agent when the step starts) from this process's stdin, a
# pipe, before it opens its script: until then it waits there, and EOF without it (the agent stopped or died) leaves
# it no script to open, so it exits having run nothing. Arguments: the lease file (read by the shell's start),
# cg=PROCS_FILE items, `--`, the shell's command. As PID 1 it exits as the shell does, so the shell is not PID 1.
shift
while [ "$1" != -- ]; do
  echo $$ >"${1#cg=}" || exit 125
  shift
done
shift
# what bash itself exports; the step's environment is its own and nothing else
unset PWD OLDPWD SHLVL
BASH_ENV=/dev/fd/4 "$@" 4<&0 </dev/null
exit
