"use client";

// Rendered when the API is unreachable or slower than API_TIMEOUT_MS: fail fast and say so.
export default function ErrorPage({ reset }: { error: Error; reset: () => void }) {
  return (
    <main className="message" data-testid="error">
      <h1>We could not load this page</h1>
      <p>Our listings service did not answer in time. Please try again.</p>
      <button className="button" onClick={() => reset()}>Try again</button>
    </main>
  );
}
