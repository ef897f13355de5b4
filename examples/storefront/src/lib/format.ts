const inr = new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR", maximumFractionDigits: 0 });
const count = new Intl.NumberFormat("en-IN");

/** ₹7,45,000 (Indian digit grouping). */
export function rupees(amount: number): string {
  return inr.format(amount);
}

export function km(distance: number): string {
  return `${count.format(distance)} km`;
}

export function number(n: number): string {
  return count.format(n);
}

export function titleCase(word: string): string {
  return word ? word[0].toUpperCase() + word.slice(1) : word;
}

/** "used-tata-cars-in-mumbai" → "Used Tata cars in Mumbai" (a heading, not a parser). */
export function slugTitle(slug: string): string {
  const words = slug.split("-").filter(Boolean);
  return words
    .map((w, i) => (i === 0 || !["cars", "in", "car"].includes(w) ? titleCase(w) : w))
    .join(" ");
}
