// Server-only client of the carpages API: typed by the generated OpenAPI types, never cached by
// Next (every render is a fresh read), bounded by a short timeout so a slow API shows the error
// page fast instead of holding the visitor.
import type { components } from "./api-types";
import { ValidatorCache } from "./validators";

export type CarPage = components["schemas"]["DedicatedPageResponse"];
export type Listing = components["schemas"]["ListingResponse"];
export type ListingCard = components["schemas"]["ListingCard"];
export type ErrorBody = components["schemas"]["ErrorBody"];

/** What a page needs to know about one API answer. */
export type ApiResult<T> =
  | { kind: "ok"; data: T; status: 200 | 304 }
  | { kind: "not-found" }
  | { kind: "unavailable"; retryAfterS: number }
  | { kind: "invalid"; error: ErrorBody };

/** Who is asking: a buyer token (signed in) and/or the anonymous visitor's viewed ids. */
export interface Viewer {
  token?: string;
  seenCarIds?: string;
}

export class ApiUnreachable extends Error {}

const TIMEOUT_MS = Number(process.env.API_TIMEOUT_MS ?? 2000);
// Anonymous answers carry a strong ETag: remembering the last body per URL lets every render
// revalidate with If-None-Match and receive an empty 304 when nothing changed.
const validators = new ValidatorCache(Number(process.env.API_ETAG_ENTRIES ?? 2000));

function baseUrl(): string {
  const base = process.env.API_URL ?? "http://127.0.0.1:8000";
  // API_PATH_PREFIX=/_baseline renders the same pages from the API's DB-direct twins (the
  // benchmark's baseline); empty in production.
  return base.replace(/\/$/, "") + (process.env.API_PATH_PREFIX ?? "");
}

async function getJson<T>(path: string, viewer: Viewer): Promise<ApiResult<T>> {
  const url = baseUrl() + path;
  const headers: Record<string, string> = { accept: "application/json" };
  const anonymous = !viewer.token;
  if (viewer.token) headers.authorization = `Bearer ${viewer.token}`;
  const remembered = anonymous ? validators.get(url) : undefined;
  if (remembered) headers["if-none-match"] = remembered.etag;
  let response: Response;
  try {
    response = await fetch(url, {
      headers,
      cache: "no-store",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (cause) {
    throw new ApiUnreachable(`API unreachable or slower than ${TIMEOUT_MS} ms: ${url}`, { cause });
  }
  if (response.status === 304 && remembered) {
    return { kind: "ok", data: JSON.parse(remembered.body) as T, status: 304 };
  }
  if (response.status === 200) {
    const body = await response.text();
    const etag = response.headers.get("etag");
    if (anonymous && etag) validators.set(url, { etag, body });
    return { kind: "ok", data: JSON.parse(body) as T, status: 200 };
  }
  if (response.status === 404) return { kind: "not-found" };
  if (response.status === 503) {
    const retryAfterS = Number(response.headers.get("retry-after") ?? "1");
    return { kind: "unavailable", retryAfterS: Number.isFinite(retryAfterS) ? retryAfterS : 1 };
  }
  if (response.status === 401 && viewer.token) {
    // An expired or foreign token must not lock the visitor out: show the public page.
    return getJson<T>(path, { seenCarIds: viewer.seenCarIds });
  }
  if (response.status === 422 || response.status === 400) {
    return { kind: "invalid", error: (await response.json()) as ErrorBody };
  }
  throw new ApiUnreachable(`API answered ${response.status} for ${url}`);
}

/** One car's dedicated page for this viewer. */
export function getCarPage(carId: string, viewer: Viewer): Promise<ApiResult<CarPage>> {
  const query = !viewer.token && viewer.seenCarIds
    ? `?seen_car_ids=${encodeURIComponent(viewer.seenCarIds)}` : "";
  return getJson<CarPage>(`/listing/${encodeURIComponent(carId)}/${query}`, viewer);
}

/** A listing page; `params` are the storefront's own query parameters plus the slug. */
export function getListing(params: URLSearchParams, viewer: Viewer): Promise<ApiResult<Listing>> {
  const query = new URLSearchParams(params);
  if (!viewer.token && viewer.seenCarIds && !query.has("seen_car_ids")) {
    query.set("seen_car_ids", viewer.seenCarIds);
  }
  return getJson<Listing>(`/listing/?${query.toString()}`, viewer);
}
