import type { Metadata } from "next";
import Link from "next/link";
import type { ReactNode } from "react";

import "./globals.css";

export const metadata: Metadata = {
  title: { default: "carpages — used cars", template: "%s · carpages" },
  description: "Certified used cars with inspection reports",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header className="topbar">
          <Link href="/used-cars" className="brand">car<span>pages</span></Link>
          <nav>
            <Link href="/used-cars?order_by=newest">Newest</Link>
            <Link href="/used-cars?order_by=price_asc">Lowest price</Link>
          </nav>
        </header>
        {children}
        <footer className="footer">Demo storefront on the carpages API · prices in INR</footer>
      </body>
    </html>
  );
}
