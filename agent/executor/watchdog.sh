# The watchdog (executor/watchdog.ts): in a session of its own, it keeps time while the agent is stopped, hung
# or dead. Every 200 ms it reads the lease deadline the agent last wrote (ms since the epoch); once that has
# passed it kills every recorded step. It leaves when the agent is gone and no step is left to watch.
# Arguments: the lease file, the step records' dir, the agent's pid. kill_record is prepended.
lease=$1 steps=$2 agent=$3
while :; do
  read -r deadline <"$lease" || deadline=0
  now=${EPOCHREALTIME/./}
  if (( ${now:0:13} >= deadline )); then
    for f in "$steps"/*; do [ -f "$f" ] && { kill_record "$f"; rm -f "$f"; }; done
  fi
  if ! kill -0 "$agent" 2>/dev/null && ! compgen -G "$steps/*" >/dev/null; then exit 0; fi
  sleep 0.2
done
