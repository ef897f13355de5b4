// Storefront URLs for a listing: the slug is the path, everything else the query string.

/** Query parameters the API understands; anything else in the URL is not forwarded. */
export const API_PARAMS = new Set([
  "city_id", "make_id", "model_id", "variant_id", "color_id", "fuel_type", "transmission",
  "owner", "features", "price_min", "price_max", "year_min", "year_max", "km_max", "rating_min",
  "order_by", "page_size", "page_no", "pin",
]);

export const ORDERS: [string, string][] = [
  ["reco", "Recommended"],
  ["newest", "Newest first"],
  ["price_asc", "Price: low to high"],
  ["price_desc", "Price: high to low"],
];

/** Facets shown as filter options (those whose values are readable without a lookup). */
export const FACETS = ["fuel_type", "transmission", "owner", "price", "year"];

export function apiQuery(slug: string, search: Record<string, string | string[] | undefined>): URLSearchParams {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(search)) {
    if (!API_PARAMS.has(key) || value === undefined) continue;
    // A repeated scalar is a 422 upstream; the first value is what the visitor meant.
    query.set(key, Array.isArray(value) ? value[0] : value);
  }
  query.set("slug", slug);
  return query;
}

/** The storefront link for the same slug with some parameters changed (null removes one). */
export function withParams(slug: string, current: URLSearchParams, changes: Record<string, string | null>): string {
  const next = new URLSearchParams(current);
  next.delete("slug");
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) next.delete(key);
    else next.set(key, value);
  }
  const qs = next.toString();
  return `/${slug}${qs ? `?${qs}` : ""}`;
}

/** The API's `next`/`previous` link (`/listing/?…`) as a storefront link. */
export function fromApiLink(slug: string, link: string | null): string | null {
  if (!link) return null;
  const query = new URLSearchParams(link.split("?", 2)[1] ?? "");
  return withParams(slug, query, {});
}

/** A facet bucket label `lo-hi` (either side may be empty) as *_min / *_max changes. */
export function bucketParams(facet: string, label: string): Record<string, string | null> {
  const [lo, hi] = label.split("-", 2);
  return {
    [`${facet}_min`]: lo || null,
    [`${facet}_max`]: hi || null,
    page_no: null,
    pin: null,
  };
}
