import Link from "next/link";

import type { ErrorBody } from "@/lib/api";

/** A 422 from the API: name the bad parameter instead of failing the whole page. */
export function InvalidQuery({ error, home }: { error: ErrorBody; home: string }) {
  const details = Array.isArray(error.detail) ? error.detail : [];
  return (
    <main className="message" data-testid="invalid">
      <h1>Some filters are not valid</h1>
      <ul>
        {details.map((d, i) => (
          <li key={i}>{String(d.param ?? "")}: {String(d.message ?? d.msg ?? "")}</li>
        ))}
        {details.length === 0 && <li>{typeof error.detail === "string" ? error.detail : error.error}</li>}
      </ul>
      <Link href={home} className="button">Clear filters</Link>
    </main>
  );
}
