import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";

import { CarCard } from "@/components/CarCard";
import { InvalidQuery } from "@/components/InvalidQuery";
import { RetryLater } from "@/components/RetryLater";
import { getListing, type Listing } from "@/lib/api";
import { number, rupees, slugTitle, titleCase } from "@/lib/format";
import { apiQuery, bucketParams, FACETS, fromApiLink, ORDERS, withParams } from "@/lib/listing-links";
import { currentViewer } from "@/lib/viewer";

type Search = Record<string, string | string[] | undefined>;
type Props = { params: Promise<{ slug: string }>; searchParams: Promise<Search> };

export const dynamic = "force-dynamic";

const SLUG = /^[a-z0-9]+(-[a-z0-9]+)*$/;

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const { slug } = await params;
  return { title: slugTitle(slug.toLowerCase()) };
}

export default async function ListingPage({ params, searchParams }: Props) {
  const slug = (await params).slug.toLowerCase();
  // Every listing URL starts with "used-"; anything else is not a page of ours.
  if (!slug.startsWith("used-") || !SLUG.test(slug)) notFound();
  const query = apiQuery(slug, await searchParams);
  const upstream = new URLSearchParams(query);
  upstream.set("facets", FACETS.join(","));
  const result = await getListing(upstream, await currentViewer());
  if (result.kind === "not-found") notFound();
  if (result.kind === "unavailable") return <RetryLater seconds={result.retryAfterS} />;
  if (result.kind === "invalid") return <InvalidQuery error={result.error} home={`/${slug}`} />;
  const listing = result.data;
  const order = query.get("order_by") ?? "reco";
  const pageNo = Number(query.get("page_no") ?? "1");
  const previous = fromApiLink(slug, listing.previous);
  const next = fromApiLink(slug, listing.next);
  return (
    <main className="listing" data-testid="listing" data-api-status={result.status}>
      <aside className="filters">
        <h2>Filters</h2>
        <ActiveFilters slug={slug} query={query} />
        <Facets slug={slug} query={query} listing={listing} />
      </aside>
      <section className="results">
        <div className="results-head">
          <div>
            <h1>{slugTitle(slug)}</h1>
            <p className="count"><span data-testid="count">{number(listing.count)}</span> cars</p>
          </div>
          <nav className="orders" aria-label="Sort">
            {ORDERS.map(([value, label]) => (
              <Link key={value} className={value === order ? "active" : ""}
                href={withParams(slug, query, { order_by: value, page_no: null, pin: null })}>
                {label}
              </Link>
            ))}
          </nav>
        </div>
        {listing.results.length === 0 ? (
          <p className="empty">No cars match these filters.</p>
        ) : (
          <ul className="cards">
            {listing.results.map((card) => <CarCard key={card.id} card={card} />)}
          </ul>
        )}
        <nav className="pager" aria-label="Pages">
          {previous ? <Link data-testid="previous" href={previous} rel="prev">← Previous</Link> : <span />}
          <span data-testid="page">Page {pageNo} of {Math.max(listing.page_count, 1)}</span>
          {next ? <Link data-testid="next" href={next} rel="next">Next →</Link> : <span />}
        </nav>
      </section>
    </main>
  );
}

const FACET_TITLES: Record<string, string> = {
  fuel_type: "Fuel", transmission: "Transmission", owner: "Owners", price: "Price", year: "Year",
};

function bucketLabel(facet: string, label: string): string {
  const [lo, hi] = label.split("-", 2);
  const show = (v: string) => (facet === "price" ? rupees(Number(v)) : v);
  if (!lo) return `up to ${show(hi)}`;
  if (!hi) return `${show(lo)} and above`;
  return `${show(lo)} – ${show(hi)}`;
}

function Facets({ slug, query, listing }: { slug: string; query: URLSearchParams; listing: Listing }) {
  const facets = listing.facets ?? {};
  return (
    <>
      {FACETS.filter((f) => facets[f]).map((facet) => (
        <div className="facet" key={facet} data-testid={`facet-${facet}`}>
          <h3>{FACET_TITLES[facet]}</h3>
          <ul>
            {Object.entries(facets[facet]).map(([value, n]) => {
              const bucket = facet === "price" || facet === "year";
              const href = withParams(slug, query, bucket
                ? bucketParams(facet, value)
                : { [facet]: value, page_no: null, pin: null });
              const label = bucket ? bucketLabel(facet, value)
                : facet === "owner" ? `${value} owner${value === "1" ? "" : "s"}` : titleCase(value);
              return (
                <li key={value}>
                  <Link href={href} className={n === 0 ? "zero" : query.get(facet) === value ? "active" : ""}>
                    {label} <span className="n">{number(n)}</span>
                  </Link>
                </li>
              );
            })}
          </ul>
        </div>
      ))}
    </>
  );
}

function ActiveFilters({ slug, query }: { slug: string; query: URLSearchParams }) {
  const active = [...query.entries()].filter(([k]) => !["slug", "order_by", "page_no", "pin", "page_size"].includes(k));
  if (active.length === 0) return null;
  return (
    <ul className="chips">
      {active.map(([k, v]) => (
        <li key={k}>
          <Link href={withParams(slug, query, { [k]: null, page_no: null, pin: null })}>
            {k.replace("_", " ")}: {v} ✕
          </Link>
        </li>
      ))}
    </ul>
  );
}
