import Link from "next/link";

export default function NotFound() {
  return (
    <main className="message" data-testid="not-found">
      <h1>This car is no longer available</h1>
      <p>It may have been sold or the link is wrong.</p>
      <Link href="/used-cars" className="button">See all used cars</Link>
    </main>
  );
}
