/**
 * Which server the page calls.
 *
 * By default the page calls the origin it was loaded from: the example
 * server serves both the page and the RPCs. A page served from another
 * origin (a separate dev server, or the e2e test's second origin) passes
 * `?api=http://127.0.0.1:8080`; the server must then allow this page's
 * origin with `-cors-origin`.
 *
 * Only loopback origins are accepted from the query string. The page sends
 * the user's password to the API origin, so accepting any origin would let a
 * crafted link (`?api=https://attacker.example`) collect credentials. A real
 * app fixes its API origin at build time instead.
 */
export interface ApiBase {
  /** The origin calls go to, e.g. "http://127.0.0.1:8080". */
  baseUrl: string;
  /** Why `?api=` was ignored, when it was. */
  warning?: string;
}

const loopbackHosts = new Set(["127.0.0.1", "localhost", "[::1]"]);

export function resolveApiBase(pageUrl: string): ApiBase {
  const page = new URL(pageUrl);
  const param = page.searchParams.get("api");
  if (param === null || param === "") {
    return { baseUrl: page.origin };
  }
  let api: URL;
  try {
    api = new URL(param);
  } catch {
    return { baseUrl: page.origin, warning: `ignored ?api=${param}: not a URL` };
  }
  if (api.protocol !== "http:" && api.protocol !== "https:") {
    return { baseUrl: page.origin, warning: `ignored ?api=${param}: not http or https` };
  }
  if (!loopbackHosts.has(api.hostname)) {
    return { baseUrl: page.origin, warning: `ignored ?api=${param}: only loopback hosts are accepted` };
  }
  if (api.username !== "" || api.password !== "" || (api.pathname !== "/" && api.pathname !== "") || api.search !== "" || api.hash !== "") {
    return { baseUrl: page.origin, warning: `ignored ?api=${param}: give an origin only, like http://127.0.0.1:8080` };
  }
  return { baseUrl: api.origin };
}
