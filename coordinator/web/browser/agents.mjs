// The agents page: the command that adds an agent, with a fresh registration token on request.
import { api, failure, flash } from "./common.mjs";

export function addAgent() {
  const command = document.getElementById("add-agent-command");
  const button = document.getElementById("add-agent-token");
  if (!command || !button) return;
  const show = (token, group) =>
    (command.textContent = `curl -fsSL ${location.origin}/install.sh | sh -s -- --token ${token}${group ? ` --group ${group}` : ""}`);
  show("<registration token>", "");
  button.addEventListener("click", async () => {
    // a registration token is limited to one executor group; install.sh's own default is "default"
    const group = document.getElementById("add-agent-group").value.trim() || "default";
    button.disabled = true;
    try {
      const res = await api("POST", "/api/v1/agent-tokens", { group });
      if (!res.ok) throw await failure(res);
      show((await res.json()).token, group === "default" ? "" : group);
      flash("");
    } catch (err) {
      flash(`Making a token failed: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  });
}
