// The visitor, read from cookies: `buyer_token` (a signed-in buyer's JWT, sent as Bearer) and
// `seen_car_ids` (anonymous history, written by the browser after each dedicated page).
import { cookies } from "next/headers";

import type { Viewer } from "./api";

export const TOKEN_COOKIE = "buyer_token";
export const SEEN_COOKIE = "seen_car_ids";

export async function currentViewer(): Promise<Viewer> {
  const jar = await cookies();
  const token = jar.get(TOKEN_COOKIE)?.value || undefined;
  // Only digits and commas go upstream; anything else in the cookie is dropped, not a 422.
  const seen = (jar.get(SEEN_COOKIE)?.value ?? "")
    .split(",")
    .filter((id) => /^[1-9][0-9]{0,9}$/.test(id))
    .slice(-100)
    .join(",");
  return token ? { token } : { seenCarIds: seen || undefined };
}
