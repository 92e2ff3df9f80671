# A step's sandbox started ahead (warm-sandbox.ts), run by dash where there is one, with no environment: joins the
# cgroups made ahead for its step (bubblewrap's processes are all in them before any forks), then becomes bubblewrap,
# whose command is the step's shell, waiting as a warm host step's does (its BASH_ENV, warm-shell-start.sh, is fd 4) for
# its start on fd 5 (this process's stdin, a pipe). The start's file is fd 6 (given as fd 5), its script fd 3 and its
# output fds 1 and 2, all opened by the agent: none of them is in the sandbox's view. Arguments: cg=PROCS_FILE items,
# `--`, bubblewrap's command.
while [ "$1" != -- ]; do
  echo $$ >"${1#cg=}" || exit 125
  shift
done
shift
exec "$@" 6<&5 5<&0 </dev/null
