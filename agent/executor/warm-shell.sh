# A step's PID 1 started ahead with the step's shell (warm-start.ts, where the step runs as the agent's user), run by
# dash where there is one, else bash (so: plain sh), with no environment but the `$_` bash would give the shell: joins
# the cgroups made ahead for its step, then runs the shell as its child at once. The shell's BASH_ENV, on fd 4, is the
# step's start as functions (lease-lapsed.sh, warm-shell-start.sh), which the agent appends to this text as a
# here-document, so that the shell has parsed them before its step comes (0.25 ms); their last line sources the call
# from this process's stdin, a pipe (fd 5), where the shell waits until the agent writes it as the step starts. EOF
# without it (the agent stopped or died) leaves it no script to open, so it exits having run nothing. Arguments: the
# LANG steps get unless their task sets one, the lease file (read by the shell's start), cg=PROCS_FILE items, `--`, the
# shell's command. As PID 1 it exits as the shell does, so the shell is not PID 1.
lang=$1
shift 2
while [ "$1" != -- ]; do
  echo $$ >"${1#cg=}" || exit 125
  shift
done
shift
# what bash itself exports; the step's environment is its own and nothing else. The shell starts with the LANG its
# step most likely has, so that it loads that locale ahead (0.3 ms); its start sets LANG again, as the step has it
# or not at all, which then costs next to nothing.
unset PWD OLDPWD SHLVL
LANG=$lang BASH_ENV=/dev/fd/4 "$@" 5<&0 </dev/null 4<<'_drover_functions'
