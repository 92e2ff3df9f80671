# The start of a step whose shell was started ahead (warm-shell.sh): the shell reads this as its BASH_ENV, before
# its script, and waits in its last line for the step's start. Given the step's start as words (its dir, output file,
# script, the lease's deadline or lease file, ulimit= items, an empty word and its environment), it does what a cold
# start does before the shell runs: takes on the step's dir, output and script (fd 3), its rlimits, refuses to run it
# if the lease lapsed, and exports its environment; then it leaves no trace the step could see: no function or
# variable of its own (locals named _drover_*, a name no step's environment reaches a warm start with), $_ and $?
# as a new shell has them, its clock from now. Builtins only: a fork here costs a millisecond. lease-lapsed.sh
# precedes this text; the step's start, which the agent writes to fd 5 as the step starts, is the call
# `_drover_start WORD... "$1"`, or where that is more than a pipe takes at once, `. FILE "$1"` with the call in FILE.
_drover_start() {
  local _drover_deadline=$4
  cd -P -- "$1" && exec 3<"$3" 4<&- 5<&- 6<&- || exit 125
  # a sandbox's output is its stdout and stderr already (warm-sandbox.ts): the agent's spool is not in its view
  [ -z "$2" ] || exec >>"$2" 2>&1 || exit 125
  shift 4
  while [ -n "$1" ]; do
    ulimit ${1#ulimit=} || exit 125
    shift
  done
  _drover_lapsed "$_drover_deadline" && exit 125
  # as a shell started in the step's dir has them: OLDPWD exported with no value
  unset -v BASH_ENV OLDPWD LANG
  export OLDPWD
  SECONDS=0
  # the environment: what follows the empty word, but the last word ("$1", for $_)
  export -- "${@:2:$#-2}"
  unset -f _drover_start _drover_lapsed
}
# What the start runs, run once ahead on nothing: the first run of a builtin's code in this process costs more than
# the ones after (the start took 0.44 ms without this, 0.39 with it, as a step's shell measured it)
_drover_rehearse() {
  local _drover_x
  cd -P -- . && exec 7</dev/null 7<&- 7>>/dev/null 7>&-
  _drover_lapsed 9999999999999 || :
  export -- "_drover_x=${*:1:$#}"
  unset -f _drover_rehearse
}
# "$_" as the shell started: it is the last word of each command, and so what $_ is once it returns
_drover_rehearse "$_"
. /dev/fd/5 "$_"
