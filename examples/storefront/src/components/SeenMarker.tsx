"use client";

import { useEffect } from "react";

const COOKIE = "seen_car_ids";
const KEEP = 50;

/** Adds this car to the anonymous visitor's history cookie, after the page is shown. */
export function SeenMarker({ carId }: { carId: number }) {
  useEffect(() => {
    const current = document.cookie.split("; ").find((c) => c.startsWith(`${COOKIE}=`));
    const ids = decodeURIComponent(current?.slice(COOKIE.length + 1) ?? "")
      .split(",")
      .filter((id) => id && id !== String(carId));
    ids.push(String(carId));
    const value = encodeURIComponent(ids.slice(-KEEP).join(","));
    document.cookie = `${COOKIE}=${value}; path=/; max-age=${60 * 60 * 24 * 30}; samesite=lax`;
  }, [carId]);
  return null;
}
