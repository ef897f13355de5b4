import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";

import { RetryLater } from "@/components/RetryLater";
import { SeenMarker } from "@/components/SeenMarker";
import { type CarPage, getCarPage } from "@/lib/api";
import { km, number, rupees, titleCase } from "@/lib/format";
import { currentViewer } from "@/lib/viewer";

type Props = { params: Promise<{ id: string }> };

export const dynamic = "force-dynamic";

function title(car: CarPage): string {
  return `${car.year} ${car.make.name} ${car.model.name} ${car.variant.name}`;
}

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  // Only the id: a second API call per render would double the page's cost.
  const { id } = await params;
  return { title: `Used car ${id}` };
}

export default async function CarPageView({ params }: Props) {
  const { id } = await params;
  // Anything but a plain positive id is not a car of ours: not found, without asking the API.
  if (!/^[1-9][0-9]{0,9}$/.test(id)) notFound();
  const viewer = await currentViewer();
  const result = await getCarPage(id, viewer);
  if (result.kind === "not-found" || result.kind === "invalid") notFound();
  if (result.kind === "unavailable") return <RetryLater seconds={result.retryAfterS} />;
  const car = result.data;
  const features = Object.entries(
    car.features.reduce<Record<string, string[]>>((groups, f) => {
      (groups[f.category] ??= []).push(f.name);
      return groups;
    }, {}),
  );
  const [cover, ...rest] = car.images;
  const specs: [string, string][] = [
    ["Year", String(car.year)],
    ["Kilometres", km(car.km_driven)],
    ["Fuel", titleCase(car.fuel_type)],
    ["Transmission", titleCase(car.transmission)],
    ["Owner", car.owner],
    ["Registration", car.registration_state],
    ["Colour", car.color.name],
    ["Body", titleCase(car.model.body_type)],
    ["Location", `${car.locality.name}, ${car.city.name}`],
    ["Seller", titleCase(car.seller_kind)],
  ];
  return (
    <main className="car" data-testid="car-page" data-car-id={car.id} data-api-status={result.status}>
      <SeenMarker carId={car.id} />
      <nav className="crumbs">
        <Link href="/used-cars">Used cars</Link> ›{" "}
        <Link href={`/used-cars?make_id=${car.make.id}`}>{car.make.name}</Link> ›{" "}
        <Link href={`/used-cars?model_id=${car.model.id}`}>{car.model.name}</Link>
      </nav>
      <section className="gallery" aria-label="Photos">
        {cover && (
          <figure className="photo cover">
            <img data-testid="photo" src={cover.url} alt={`${title(car)} — ${cover.tag}`} />
          </figure>
        )}
        <div className="thumbs">
          {rest.slice(0, 8).map((img) => (
            <figure className="photo" key={img.position}>
              <img data-testid="photo" src={img.url} alt={img.tag} loading="lazy" />
            </figure>
          ))}
        </div>
      </section>
      <section className="summary">
        <h1>{title(car)}</h1>
        <p className="meta">{km(car.km_driven)} · {titleCase(car.fuel_type)} · {titleCase(car.transmission)} · {car.owner} owner</p>
        <p className="price" data-testid="price" data-price={car.price}>{rupees(car.price)}</p>
        <p className="rating">★ {car.rating.toFixed(1)} · {car.city.name}</p>
        <Dynamic car={car} />
        <Contact car={car} />
      </section>
      <section className="specs">
        <h2>Specifications</h2>
        <dl>
          {specs.map(([k, v]) => (
            <div key={k}><dt>{k}</dt><dd>{v}</dd></div>
          ))}
        </dl>
      </section>
      {features.length > 0 && (
        <section className="features">
          <h2>Features</h2>
          {features.map(([category, names]) => (
            <div key={category}>
              <h3>{titleCase(category)}</h3>
              <ul>{names.map((n) => <li key={n}>{n}</li>)}</ul>
            </div>
          ))}
        </section>
      )}
      <Inspection car={car} />
    </main>
  );
}

/** The buyer's dynamic fields (absent on the DB-direct baseline, which has no overlay). */
function Dynamic({ car }: { car: CarPage }) {
  const badges: string[] = [];
  if (car.interested_people) badges.push(`${number(car.interested_people)} people interested`);
  if (car.is_seen) badges.push("You viewed this car before");
  if (car.test_drive_booked) badges.push("Test drive booked");
  if (car.offer_amount) badges.push(`Your offer: ${rupees(car.offer_amount)}`);
  return (
    <ul className="badges" data-testid="dynamic">
      {badges.map((b) => <li key={b}>{b}</li>)}
    </ul>
  );
}

function Contact({ car }: { car: CarPage }) {
  if (car.seller_mobile_no) {
    return (
      <div className="contact paid">
        <span>Seller&apos;s number</span>
        <a data-testid="seller-mobile" href={`tel:${car.seller_mobile_no}`}>{car.seller_mobile_no}</a>
      </div>
    );
  }
  return (
    <div className="contact" data-testid="seller-locked">
      <span>Seller&apos;s number and the full inspection report</span>
      <strong>for subscribers</strong>
    </div>
  );
}

function Inspection({ car }: { car: CarPage }) {
  if (!car.inspection) return null;
  const report = car.inspection_report;
  return (
    <section className="inspection">
      <h2>Inspection <span className="score">{car.inspection.score.toFixed(1)}/10</span></h2>
      <p>{car.inspection.summary}</p>
      <p className="meta">Inspected {car.inspection.inspected_at.slice(0, 10)}</p>
      {report && <FullReport report={report} />}
    </section>
  );
}

type ReportItem = { item?: string; status?: string; note?: string };
type ReportSection = { name?: string; items?: ReportItem[] };

/** The paid-only checklist: its sections when it has the usual shape, else its raw JSON. */
function FullReport({ report }: { report: Record<string, unknown> }) {
  const sections = Array.isArray(report.sections) ? (report.sections as ReportSection[]) : null;
  return (
    <details className="report" data-testid="inspection-report" open>
      <summary>Full inspection report</summary>
      {typeof report.odometer_km === "number" && (
        <p className="facts">
          Odometer {km(report.odometer_km)}
          {typeof report.accident_free === "boolean" && ` · ${report.accident_free ? "accident free" : "accident history"}`}
          {typeof report.tyre_tread_pct === "number" && ` · tyre tread ${report.tyre_tread_pct}%`}
        </p>
      )}
      {sections ? sections.map((section, i) => (
        <div key={i}>
          <h3>{section.name}</h3>
          <ul>
            {(section.items ?? []).map((it, j) => (
              <li key={j}>
                <span>{it.item}{it.note ? ` — ${it.note}` : ""}</span>
                <span className={it.status}>{it.status}</span>
              </li>
            ))}
          </ul>
        </div>
      )) : <pre>{JSON.stringify(report, null, 2)}</pre>}
    </details>
  );
}
