// The gateway's API as the UI uses it. The session cookie authenticates every call (and EventSource).

export class ApiError extends Error {
  constructor(status, message, issues = []) {
    super(message);
    this.status = status;
    // A 422's problems one by one ({loc, msg}), for a form that shows each next to its field.
    this.issues = issues;
  }
}

/** Whether the server does not offer this route (yet): FastAPI's own 404 ("Not Found", not a missing
 * resource's words) or a 405. The UI then says so in its own words. */
export const notOffered = (error) => error instanceof ApiError
  && (error.status === 405 || (error.status === 404 && error.message === "Not Found"));

async function request(method, path, { json, form, params } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params ?? {})) {
    for (const v of [value].flat()) if (v !== undefined && v !== null && v !== "") url.searchParams.append(name, v);
  }
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form) {
    init.body = form;
  }
  const response = await fetch(url, init);
  if (response.status === 401 && !path.startsWith("/ui/")) window.dispatchEvent(new Event("leadflow:signed-out"));
  if (!response.ok) throw await apiError(response);
  if (response.status === 204) return null;
  return response.json();
}

// A 422's `detail` lists each problem: FastAPI's own checks name the field in `loc` (["body", "name"]),
// the API's own messages (loc ["request"]) name it in the text. Every other error's `detail` is the text.
function issueText(issue) {
  const loc = Array.isArray(issue.loc) ? issue.loc : [];
  const field = loc.length > 1 ? loc.slice(1).join(".") : "";
  return field ? `${field}: ${issue.msg}` : String(issue.msg);
}

async function apiError(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return new ApiError(response.status, body.detail);
    if (Array.isArray(body.detail) && body.detail.length) {
      return new ApiError(response.status, body.detail.map(issueText).join("; "), body.detail);
    }
  } catch { /* not JSON */ }
  return new ApiError(response.status, `${response.status} ${response.statusText}`);
}

export const api = {
  get: (path, params) => request("GET", path, { params }),
  post: (path, json) => request("POST", path, { json }),
  put: (path, json) => request("PUT", path, { json }),
  patch: (path, json) => request("PATCH", path, { json }),
  upload: (path, form) => request("POST", path, { form }),
  del: (path) => request("DELETE", path),
};

/** Follow a server-sent-event stream; `handlers` maps event names to callbacks of the parsed JSON data. */
export function listen(path, handlers, { onError } = {}) {
  const source = new EventSource(path, { withCredentials: true });
  for (const [name, handle] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => handle(JSON.parse(event.data)));
  }
  source.onerror = () => onError?.(source);
  return source;
}

/** An import's live progress: SSE while it runs, then its final record (with the breakdown). */
export function followImport(importId, onProgress) {
  return new Promise((resolve, reject) => {
    const finish = (source, record) => { source.close(); resolve(record); };
    const source = listen(`/api/v1/imports/${importId}/events`, {
      progress: (data) => onProgress(data),
      completed: (data) => finish(source, data),
      failed: (data) => finish(source, data),
      cancelled: (data) => finish(source, data),
    }, {
      onError: async (s) => {
        // The stream ends after the final event; a broken one falls back to reading the import.
        if (s.readyState !== EventSource.CLOSED) return;
        try {
          const record = await api.get(`/api/v1/imports/${importId}`);
          if (record.state !== "running") resolve(record);
          else reject(new ApiError(0, "Lost the live progress; reload to see the import."));
        } catch (error) { reject(error); }
      },
    });
  });
}
